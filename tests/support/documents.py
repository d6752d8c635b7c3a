"""Documents built in the tests (PDF with fpdf2, DOCX with python-docx).

- ``make_pdf``, ``make_docx``, ``make_txt``: the sample documents with one known fact each
  (the ingest tests, the MCP tests and the demos);
- ``pdf_with``, ``docx_with``: a document of given content (the extraction and fetch tests);
- ``REPORT_SENTENCES``: the sentences of the Molecule scenarios' text jobs."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from docx import Document
from fpdf import FPDF

PDF_FACT = "The Halvorsen lighthouse keeps a brass lens weighing 812 kilograms."
DOCX_FACT = "Project Nimbus trains carrier pigeons to deliver seed packets to Tromsø."
TXT_FACT = "The Vellichor bakery sells cardamom buns every Thursday at dawn."

# Plain sentences the Molecule scenarios build their text jobs from (async_jobs, lifecycle).
REPORT_SENTENCES = [
    "The relay station logs every handover between the northern and southern valleys.",
    "Operators rotate the cooling pumps each week so that no bearing wears out first.",
    "A storm in early spring flooded the lower tunnel and the crews rerouted the cables.",
    "Each archive box is labelled with the year, the district and the surveyor's initials.",
    "The ferry schedule changes twice a year, and the harbour office posts it on paper.",
]


def make_pdf(text: str = PDF_FACT) -> bytes:
    pdf = FPDF()
    # A fixed creation date: the same text gives the same bytes, so re-ingesting it (the demo
    # on a re-run) updates one document instead of adding another.
    pdf.set_creation_date(datetime(2024, 1, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, f"Lighthouse report. {text} The lens was polished in 1911.")
    return bytes(pdf.output())


def make_docx(text: str = DOCX_FACT) -> bytes:
    doc = Document()
    doc.add_heading("Nimbus project notes", level=1)
    doc.add_paragraph(text)
    table = doc.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "pigeons"
    table.rows[0].cells[1].text = "42"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def make_txt(text: str = TXT_FACT) -> bytes:
    return f"Bakery notes\n\n{text}\nThe buns cost two crowns.\n".encode()


def pdf_with(lines: list[str], title: str | None = None, user_password: str | None = None) -> bytes:
    """A PDF of ``lines``, one per line; with a title, or encrypted for ``user_password``."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if user_password:
        pdf.set_encryption(owner_password="owner-" + user_password, user_password=user_password)
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for line in lines:
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def docx_with(
    paragraphs: list[str], table: list[list[str]] | None = None, title: str | None = None
) -> bytes:
    """A DOCX of ``paragraphs``, then ``table`` (rows of cells) and a closing paragraph."""
    document = Document()
    if title:
        document.core_properties.title = title
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
        document.add_paragraph("After the table.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
