"""Sample documents built in the tests (PDF with fpdf2, DOCX with python-docx)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from docx import Document
from fpdf import FPDF

PDF_FACT = "The Halvorsen lighthouse keeps a brass lens weighing 812 kilograms."
DOCX_FACT = "Project Nimbus trains carrier pigeons to deliver seed packets to Tromsø."
TXT_FACT = "The Vellichor bakery sells cardamom buns every Thursday at dawn."


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
