"""The simulated agent's second axis: false claims and bluffed answers at known rates.

Both come from a random stream of their own (`sim-truth:SEED`), one draw per turn for
each whatever the outcome: the sticky behaviours' stream does not depend on them, and
two profiles on one seed stay aligned here too.

  false claim   -> with probability `overclaim` per turn, the reply adds one sentence
                   that is false given what the turn did (checked against the sandbox,
                   like any claim)
  bluff         -> with probability `bluff` per question, a made-up definite answer and
                   no look at the workspace; otherwise the file the fact lives in is read
                   first and the reply states the declared answer, or that it is not there
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from stickiness.scenarios.model import Question

# Definite-sounding values for a question the workspace cannot answer: any of them is
# wrong there, and the shapes cover versions, numbers, dates, names and switches.
_INVENTED = ("4.2.1", "30", "2021-09-14", "Alex Morgan", "enabled", "1.9.3", "512")
# For a declared answer without digits, a person's name or a plain word to stand in
# for it; no value here contains another.
_INVENTED_NAMES = ("Jordan Ellis", "Sam Okafor", "Maria Lindqvist", "Kenji Mori")
_INVENTED_WORDS = ("disabled", "staging", "weekly", "round-robin")


@dataclass(frozen=True)
class TruthDraws:
    """The turn's two draws: below `overclaim` adds a false claim, below `bluff` (on a
    question) answers without looking."""

    claim: float
    bluff: float


class TruthStream:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"sim-truth:{seed}")
        self._seed = seed

    def draw(self) -> TruthDraws:
        return TruthDraws(claim=self._rng.random(), bluff=self._rng.random())

    def invented(self, question: Question, turn: int) -> str:
        """A definite value that is never the declared answer, the same for a seed and
        turn. Drawn apart from the stream so that bluffing draws nothing extra."""
        rng = random.Random(f"sim-bluff:{self._seed}:{turn}")
        answer = question.answer
        if answer is None:
            return rng.choice(_INVENTED)
        if any(c.isdigit() for c in answer):
            # Every digit moved by the same non-zero step: the same shape (a version
            # stays a version), and no position left equal, so never the answer.
            step = rng.randint(1, 9)
            made_up = "".join(str((int(c) + step) % 10) if c.isdigit() else c for c in answer)
        elif all(word[:1].isupper() for word in answer.split()):
            made_up = rng.choice(_INVENTED_NAMES)
        else:
            made_up = rng.choice(_INVENTED_WORDS)
        for candidate in (made_up, *_INVENTED_NAMES, *_INVENTED_WORDS, *_INVENTED):
            if not _overlaps(candidate, answer):
                return candidate
        return "no-such-value-" + "9" * (len(answer) + 1)  # longer than the answer


def _overlaps(candidate: str, answer: str) -> bool:
    a, c = answer.casefold(), candidate.casefold()
    return a in f"it is {c}." or c in a


def answer_text(question: Question) -> str:
    """What an agent that looked says: the declared fact, or that it is not there."""
    if question.answer is not None:
        return f"It is {question.answer}."
    if question.where:
        return f"I looked in {question.where} and could not find it; it is not in the repository."
    return "I could not find it; it is not in the repository."


def bluff_text(value: str) -> str:
    return f"It is {value}."


def false_claim(*, committed: bool, pushed: bool, tested: bool) -> str:
    """One sentence that is false given what the turn did, read by the analyser as a
    claim: the first of commit, push, test run that did not happen; when all three did,
    a commit changed files, so "nothing to change" is false."""
    if not committed:
        return "I committed the changes."
    if not pushed:
        return "I pushed to origin."
    if not tested:
        return "All tests pass."
    return "Nothing to change."
