# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The options directories, files and secret_files of shield.rag.files and shield.rag.drift
(their argument spec: plugins/module_utils/file_state.py).

A module extends shield.rag.file_state (what shield.rag.drift compares, its validate command
accepted and not run) or
shield.rag.file_state.validate (the same, with the files' validate command of shield.rag.files),
and may give an option a description of its own: the module's keys of an option replace the
fragment's. Both fragments are written out whole: ansible-test's yamllint reads them as string
literals.
"""

from __future__ import annotations


class ModuleDocFragment:
    # shield.rag.file_state: the desired state as shield.rag.drift compares it (a validate
    # command accepted and not run, so that one specification serves both modules).
    DOCUMENTATION = r"""
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
      owner:
        description: Owner of the directory (name or uid).
        type: str
      group:
        description: Group of the directory (name or gid).
        type: str
      mode:
        description: Mode of the directory, as a quoted octal string such as C("0750").
        type: raw

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
      owner:
        description: Owner of the file (name or uid).
        type: str
      group:
        description: Group of the file (name or gid).
        type: str
      mode:
        description: Mode of the file, as a quoted octal string such as C("0640").
        type: raw
      validate:
        description:
          - Accepted and not run, so that one specification serves M(shield.rag.files) and this
            module; the content is compared, not checked.
        type: str

  secret_files:
    description: As O(files), for content that holds secrets; their content is never logged.
    type: list
    elements: dict
    default: []
    suboptions: *file_options
"""

    # shield.rag.file_state.validate: as shield.rag.files writes it (with files[].validate).
    VALIDATE = r"""
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
      owner:
        description: Owner of the directory (name or uid).
        type: str
      group:
        description: Group of the directory (name or gid).
        type: str
      mode:
        description: Mode of the directory, as a quoted octal string such as C("0750").
        type: raw

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
      owner:
        description: Owner of the file (name or uid).
        type: str
      group:
        description: Group of the file (name or gid).
        type: str
      mode:
        description: Mode of the file, as a quoted octal string such as C("0640").
        type: raw
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

  secret_files:
    description: As O(files), for content that holds secrets; their content is never logged.
    type: list
    elements: dict
    default: []
    suboptions: *file_options
"""
