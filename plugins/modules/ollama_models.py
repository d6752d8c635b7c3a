#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_models
short_description: Declare the models of an Ollama server
version_added: "0.3.0"
description:
  - Runs on the Ollama host and talks to Ollama's HTTP API at O(url).
  - Each model of O(models) that Ollama does not list (C(GET /api/tags)) is pulled from the
    registry, or, with O(models[].gguf), created from that GGUF file on the host (for hosts
    without Internet). A model Ollama lists already is left as it is, so a second run changes
    nothing.
  - With O(prune), every model Ollama lists that O(models) does not declare is deleted.
  - Each model with O(models[].keep_loaded) is then loaded and kept loaded until Ollama stops.
  - Last, O(embed_check) asks one embedding and fails unless it has the expected dimension.
  - A failed call fails the task with a message naming the model and giving Ollama's own error
    text; the results list what was done before it.
author:
  - Shield RAG contributors (@shield-rag)
options:
  url:
    description: Ollama's base URL, C(http://) or C(https://).
    type: str
    default: http://127.0.0.1:11434
  validate_certs:
    description: Check the server certificate of an https O(url).
    type: bool
    default: true
  ca_path:
    description: A PEM file of the CA certificates to check it with (else the system's).
    type: path
  timeout:
    description:
      - Seconds one pull, one upload of a GGUF file or one create may take (also the longest
        wait for any answer).
    type: int
    default: 1800
  models:
    description: The models the server must have.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The model's name as Ollama lists it; without a tag it is C(<name>:latest)
            (C(all-minilm) is C(all-minilm:latest)).
        type: str
        required: true
      gguf:
        description:
          - A GGUF file on the host to create the model from instead of pulling it. Its SHA-256
            is computed, the file is uploaded as the blob C(sha256:<hex>) unless Ollama has it
            already (C(HEAD /api/blobs/...)), then C(POST /api/create) makes the model of it.
          - Only used when the model is missing; a model of that name is not created again
            when the file changes (delete it, or give the new file a new name).
        type: path
      template:
        description:
          - With O(models[].gguf) only, the model's prompt template (Go template syntax).
        type: str
      system:
        description: With O(models[].gguf) only, the model's system prompt.
        type: str
      parameters:
        description:
          - With O(models[].gguf) only, the model's parameters, such as C(num_ctx) or C(stop).
        type: dict
      keep_loaded:
        description:
          - Load the model and keep it loaded (C(keep_alive=-1)). Embedding models (those whose
            C(POST /api/show) capabilities hold C(embedding)) are loaded with
            C(POST /api/embed) and an empty input, the others with C(POST /api/generate) and an
            empty prompt; when Ollama gives no capabilities, C(/api/embed) is tried first.
          - Changed only when the model was not in C(GET /api/ps) with an expiry more than a
            century away already. V(false) does not unload a loaded model.
        type: bool
        default: false
  prune:
    description:
      - Delete every model Ollama lists that O(models) does not declare (never a declared one).
      - With O(embed_check), its model must be one of O(models).
    type: bool
    default: false
  embed_check:
    description:
      - After everything else, C(POST /api/embed) a short text to O(embed_check.model) and fail
        with a message naming the model, the expected and the received dimension when they
        differ, or Ollama's error when the model does not answer.
      - A model kept loaded for good (by O(models[].keep_loaded), or already before the run) is
        asked with C(keep_alive=-1), so that it stays so; another is loaded by Ollama for its
        usual C(keep_alive), also in check mode.
    type: dict
    suboptions:
      model:
        description: The embedding model (C(all-minilm) is C(all-minilm:latest)).
        type: str
        required: true
      dimension:
        description: The dimension its embeddings must have.
        type: int
        required: true
notes:
  - Supports check mode. It reads the models (and the loaded ones) and reports what it would
    pull, create, delete and load, and changes nothing; O(embed_check) is done only when its
    model is installed already, and is otherwise skipped (said in RV(msg)).
  - Supports diff mode, with the installed models before and after.
  - Pulls stream Ollama's progress (C(stream=true)) and read it to the end; a pull fails on an
    C(error) line and also when it ends without the status C(success). Creates use
    C(stream=false).
  - Proxy settings of the environment are not used, and redirects are not followed.
  - Only Python's standard library is needed on the host.
"""

EXAMPLES = r"""
- name: The embedding and generation models, nothing else, the embedder kept loaded
  shield.rag.ollama_models:
    models:
      - name: all-minilm
        keep_loaded: true
      - name: qwen2.5:0.5b
    prune: true
    embed_check:
      model: all-minilm
      dimension: 384

- name: A model from a GGUF file copied to a host without Internet
  shield.rag.ollama_models:
    url: http://127.0.0.1:11434
    models:
      - name: qwen2.5:0.5b-offline
        gguf: /var/lib/shield-rag/models/qwen2.5-0.5b-instruct-q4_k_m.gguf
        parameters:
          num_ctx: 4096
          temperature: 0.2
        system: Answer from the given context only.
"""

RETURN = r"""
installed:
  description: The models Ollama lists after the run (in check mode, would list), sorted.
  returned: always
  type: list
  elements: str
  sample: [all-minilm:latest, qwen2.5:0.5b]
pulled:
  description: The models pulled from the registry (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [qwen2.5:0.5b]
created:
  description: The models created from GGUF files (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: []
deleted:
  description: The models deleted by O(prune) (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [llama3.2:latest]
loaded:
  description: The models loaded to stay loaded (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [all-minilm:latest]
embedding_dimension:
  description: The dimension of O(embed_check.model)'s embedding, or null without a check.
  returned: always
  type: int
  sample: 384
msg:
  description: Why O(embed_check) was skipped in check mode.
  returned: when it was
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.ollama_api import (
    Ollama,
    OllamaError,
    full_name,
    sha256_file,
)

ARGUMENT_SPEC = {
    "url": {"type": "str", "default": "http://127.0.0.1:11434"},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 1800},
    "models": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "gguf": {"type": "path"},
            "template": {"type": "str"},
            "system": {"type": "str"},
            "parameters": {"type": "dict"},
            "keep_loaded": {"type": "bool", "default": False},
        },
    },
    "prune": {"type": "bool", "default": False},
    "embed_check": {
        "type": "dict",
        "options": {
            "model": {"type": "str", "required": True},
            "dimension": {"type": "int", "required": True},
        },
    },
}

EMBED_CHECK_TEXT = "Shield RAG checks the dimension of this embedding."


class Models:
    """One run: the models of ``module.params`` made so on ``api``."""

    def __init__(self, module, api):
        self.module = module
        self.api = api
        self.check = module.check_mode
        self.result = {"pulled": [], "created": [], "deleted": [], "loaded": []}
        self.before = []
        self.installed = set()
        self.dimension = None

    def done(self, **extra):
        changed = any(self.result.values())
        out = dict(self.result, installed=sorted(self.installed), changed=changed, **extra)
        out["embedding_dimension"] = self.dimension
        if self.module._diff:
            out["diff"] = {
                "before": {"installed": self.before},
                "after": {"installed": sorted(self.installed)},
            }
        return out

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.done())

    def listed(self):
        try:
            tags = self.api.call("GET", "/api/tags")
        except OllamaError as exc:
            self.fail(f"Listing the models of Ollama at {self.api.url} failed: {exc}")
        return {str(m.get("name") or m.get("model")) for m in tags.get("models") or []}

    def pull(self, name):
        try:
            status = self.api.stream("/api/pull", {"model": name})
        except OllamaError as exc:
            self.fail(f"Pulling {name} from the registry failed: {exc}")
        if status != "success":
            self.fail(
                f"Pulling {name} from the registry failed: the pull ended with the status "
                f"{status or '(none)'!r}, not 'success'"
            )

    def create(self, spec):
        name, path = spec["name"], spec["gguf"]
        what = f"Creating {name} from {path} failed"
        try:
            digest = sha256_file(path)
            if not self.api.has_blob(digest):
                self.api.upload_blob(path, digest)
            filename = os.path.basename(path)
            if not filename.endswith(".gguf"):
                filename += ".gguf"
            body = {"model": name, "files": {filename: f"sha256:{digest}"}, "stream": False}
            for key in ("template", "system", "parameters"):
                if spec.get(key) is not None:
                    body[key] = spec[key]
            answer = self.api.call("POST", "/api/create", body)
        except OllamaError as exc:
            self.fail(f"{what}: {exc}")
        except OSError as exc:
            self.fail(f"{what}: {exc.strerror or exc}")
        if answer.get("status", "success") != "success":
            self.fail(f"{what}: Ollama answered the status {answer.get('status')!r}")

    def delete(self, name):
        try:
            self.api.call("DELETE", "/api/delete", {"model": name})
        except OllamaError as exc:
            self.fail(f"Deleting {name} failed: {exc}")

    def kept_loaded(self):
        try:
            return self.api.kept_loaded()
        except OllamaError as exc:
            self.fail(f"Listing the loaded models of Ollama at {self.api.url} failed: {exc}")

    def load(self, name):
        try:
            self.api.load(name)
        except OllamaError as exc:
            self.fail(f"Loading {name} to keep it loaded failed: {exc}")

    def embed_check(self, spec, forever):
        """The check; a model kept loaded for good is asked with keep_alive -1, so that the
        check does not cut that short."""
        name, expected = full_name(spec["model"]), spec["dimension"]
        body = {"model": name, "input": EMBED_CHECK_TEXT}
        if name in forever:
            body["keep_alive"] = -1
        try:
            answer = self.api.call("POST", "/api/embed", body)
        except OllamaError as exc:
            self.fail(f"embed_check: {name} gave no embedding: {exc}")
        embeddings = answer.get("embeddings")
        if not (isinstance(embeddings, list) and embeddings and isinstance(embeddings[0], list)):
            self.fail(f"embed_check: {name} answered no embedding: {str(answer)[:300]}")
        self.dimension = len(embeddings[0])
        if self.dimension != expected:
            self.fail(
                f"embed_check: {name} answers embeddings of dimension {self.dimension}, "
                f"expected {expected}"
            )

    def run(self):
        params = self.module.params
        specs = {}
        for spec in params["models"]:
            name = full_name(spec["name"])
            if name in specs:
                self.fail(f"{name} is declared twice in models")
            specs[name] = dict(spec, name=name)
        check_spec = params["embed_check"]
        if params["prune"] and check_spec and full_name(check_spec["model"]) not in specs:
            self.fail(
                f"embed_check.model {full_name(check_spec['model'])} is not in models: prune "
                "would delete it"
            )
        self.installed = self.listed()
        self.before = sorted(self.installed)
        for name, spec in specs.items():
            if name in self.installed:
                continue
            gguf = spec.get("gguf")
            if gguf and not os.path.isfile(gguf):  # also in check mode
                self.fail(f"Creating {name} from {gguf} failed: no such file")
            if not self.check and gguf:
                self.create(spec)
            elif not self.check:
                self.pull(name)
            self.result["created" if gguf else "pulled"].append(name)
            self.installed.add(name)
        if params["prune"]:
            for name in sorted(self.installed - set(specs)):
                if not self.check:
                    self.delete(name)
                self.result["deleted"].append(name)
                self.installed.discard(name)
        keep = [name for name, spec in specs.items() if spec["keep_loaded"]]
        # kept loaded for good: by this run (not in check mode), or before it
        forever = self.kept_loaded() if keep or check_spec else set()
        for name in keep:
            if name not in forever:
                if not self.check:
                    self.load(name)
                self.result["loaded"].append(name)
        if not self.check:
            forever.update(keep)
        extra = {}
        if check_spec:
            name = full_name(check_spec["model"])
            if self.check and name not in self.before:
                extra["msg"] = f"embed_check skipped: {name} is not installed yet (check mode)"
            else:
                self.embed_check(check_spec, forever)
        self.module.exit_json(**self.done(**extra))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    url = module.params["url"]
    empty = {"installed": [], "pulled": [], "created": [], "deleted": [], "loaded": []}
    if not url.startswith(("http://", "https://")):
        module.fail_json(msg=f"url {url} is not an http or https URL", **empty)
    for spec in module.params["models"]:
        extras = [k for k in ("template", "system", "parameters") if spec.get(k) is not None]
        if extras and not spec.get("gguf"):
            module.fail_json(
                msg=f"models: {spec['name']}: {', '.join(extras)} need gguf "
                "(a pulled model keeps the registry's)",
                **empty,
            )
    api = Ollama(
        url, module.params["validate_certs"], module.params["ca_path"], module.params["timeout"]
    )
    Models(module, api).run()


if __name__ == "__main__":
    main()
