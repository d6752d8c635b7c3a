"""The stand-in's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from . import generations, routes_embed, routes_generate, routes_manage, routes_models
from .catalog import StandIn


def build_app(state: StandIn) -> FastAPI:
    app = FastAPI(title="Ollama stand-in (tests only)")
    routes_models.register(app, state)
    routes_manage.register(app, state)
    routes_embed.register(app, state)
    routes_generate.register(app, state)
    generations.register(app, state.generations)  # stand-in only, not Ollama's API
    return app
