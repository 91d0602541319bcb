"""Who tells the citizen the answer on a call back: the synthesised voice, or an agent (when the answer is
long, when the site says always, or when the supervisor chose so on approving), and in which queue."""

from __future__ import annotations

import pytest

from channels import callback
from hotline.settings import Settings

SHORT = "Đã tháo dỡ mái che."
LONG = "Đã kiểm tra hiện trường và lập biên bản. " * 40


def with_mode(site: Settings, mode: str) -> Settings:
    return site.model_copy(update={"callbacks": site.callbacks.model_copy(update={"agent": mode})})


@pytest.mark.parametrize(
    ("mode", "kind", "answer", "agent"),
    [
        ("long", "answer", SHORT, False),
        ("long", "answer", LONG, True),
        ("never", "answer", LONG, False),
        ("always", "answer", SHORT, True),
        ("never", callback.BY_AGENT, SHORT, True),  # the supervisor's choice wins over the site's
    ],
)
def test_who_tells_the_answer(site: Settings, mode: str, kind: str, answer: str, agent: bool) -> None:
    assert callback.by_agent(with_mode(site, mode), kind, answer) is agent


def test_a_long_answer_read_by_the_voice_is_cut_at_a_word(site: Settings) -> None:
    text, cut = callback.speakable(site, LONG)
    assert cut and len(text) <= site.callbacks.longest_answer_chars and LONG.startswith(text)
    assert not text.endswith(" ") and LONG[len(text)] == " "


def test_the_agents_of_the_requests_topic_tell_it_else_the_operators(site: Settings) -> None:
    assert callback.agent_queue(site, "health") == "health"
    assert callback.agent_queue(site, "") == "operator"
    assert callback.agent_queue(site, "a topic with no queue") == "operator"
