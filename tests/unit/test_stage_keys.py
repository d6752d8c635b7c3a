"""The graph stage has its own stream, retry set and leases; the job's record is shared."""

from __future__ import annotations

from shield_rag.jobs.keys import GRAPH_STAGE, Keys


def test_graph_stage_keys_are_its_own() -> None:
    vectors, graph = Keys("p"), Keys("p", GRAPH_STAGE)
    assert (vectors.queue, vectors.delayed) == ("p:queue", "p:delayed")  # unchanged names
    assert (graph.queue, graph.delayed) == ("p:graph:queue", "p:graph:delayed")
    assert vectors.lease("j") == "p:job:j:lease"
    assert graph.lease("j") == "p:job:j:graph-lease"
    # One job record, one event stream, whichever stage writes.
    assert graph.job("j") == vectors.job("j") and graph.job_events("j") == vectors.job_events("j")
    assert graph.graph_docs("j") == "p:job:j:graph-docs"
