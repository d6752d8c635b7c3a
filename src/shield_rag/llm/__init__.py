"""Models as a managed resource: which models the Ollama hosts serve (``catalog``), which one
answers a call (``router``), what a call used (``usage``) and what each client may still
spend (``budgets``)."""
