"""Following SQS's message move task (`greenhook redrive`), offline: SQS's answers are given."""

from __future__ import annotations

import pytest

from greenhook_dev.dead_letters import follow


class _Tasks:
    """ListMessageMoveTasks' answers, one per call, then the last one again."""

    def __init__(self, *answers):
        self.answers = list(answers)

    def list_message_move_tasks(self, **_):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {"Results": answer}


def test_a_redrive_is_followed_to_its_end_even_if_sqs_lists_it_late():
    running = {"TaskHandle": "h", "Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 1}
    done = {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 3}
    seen = []
    state = follow(_Tasks([], [running], [done]), "arn", "h", seen.append, sleep=lambda _: None)
    assert state == done
    assert seen == [running, done]


def test_a_redrive_replaced_by_another_task_is_not_followed_as_if_it_were_ours():
    other = [{"TaskHandle": "someone-else", "Status": "RUNNING"}]
    with pytest.raises(LookupError):
        follow(_Tasks(other), "arn", "h", lambda _: None, sleep=lambda _: None)
