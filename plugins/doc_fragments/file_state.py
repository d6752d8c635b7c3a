# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The options directories, files and secret_files of shield.rag.files and shield.rag.drift
(their argument spec: plugins/module_utils/file_state.py).

A module extends shield.rag.file_state (what shield.rag.drift compares, its validate command
accepted and not run) or
shield.rag.file_state.validate (the same, with the files' validate command of shield.rag.files),
and may give an option a description of its own: the module's keys of an option replace the
fragment's.
"""

from __future__ import annotations

_ATTRIBUTES = """\
      owner:
        description: Owner of the {what} (name or uid).
        type: str
      group:
        description: Group of the {what} (name or gid).
        type: str
      mode:
        description: Mode of the {what}, as a quoted octal string such as C("{mode}").
        type: raw
"""

_VALIDATE = """\
      validate:
        description:
          - Command that checks the new content before it replaces the file; each C(%s) is the path
            of the temporary file. The file is not replaced when the command fails, and the module
            fails with the command's output.
          - In check mode the new content is checked too, as a file in the module's own temporary
            directory (nothing is written next to O(files[].dest)), so that a bad value fails a
            check run; when the command's program is not installed yet (a host that the real
            run sets up), check mode warns that the content was not checked.
        type: str
"""

# What shield.rag.drift does with a validate command: takes it, so that one specification serves
# both modules, and does not run it.
_VALIDATE_NOT_RUN = """\
      validate:
        description:
          - Accepted and not run, so that one specification serves M(shield.rag.files) and this
            module; the content is compared, not checked.
        type: str
"""

_OPTIONS = """
options:
  directories:
    description: Directories with these attributes.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
{directory_attributes}
  files:
    description: Files with this content and these attributes.
    type: list
    elements: dict
    default: []
    suboptions: &file_options
      dest:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
{file_attributes}{file_options}
  secret_files:
    description: As O(files), for content that holds secrets; their content is never logged.
    type: list
    elements: dict
    default: []
    suboptions: *file_options
"""


def _options(file_options=""):
    return _OPTIONS.format(
        directory_attributes=_ATTRIBUTES.format(what="directory", mode="0750"),
        file_attributes=_ATTRIBUTES.format(what="file", mode="0640"),
        file_options=file_options,
    )


class ModuleDocFragment:
    # shield.rag.file_state: the desired state as shield.rag.drift compares it.
    DOCUMENTATION = _options(file_options=_VALIDATE_NOT_RUN)

    # shield.rag.file_state.validate: as shield.rag.files writes it (with files[].validate).
    VALIDATE = _options(file_options=_VALIDATE)
