"""A separate process that appends real assessments to a log and acknowledges each commit.

Usage: python tests/log_writer.py LOG WRITER_ID BATCHES BATCH_SIZE [FOLD]
Prints one line per committed batch: ``ack <seq> <id> <seq> <id> ...``, flushed.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from suitability import Client, assess
from suitability.log import open_store
from suitability.log.sqlite import SQLiteStore
from suitability.records import assessment_draft
from tests.workload import REGISTRY, random_answers


def main() -> None:
    log, writer, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = SQLiteStore(log, fold=int(sys.argv[5])) if len(sys.argv) > 5 else open_store(log)
    q = REGISTRY.questionnaire("cn-securities-individual")
    rnd = random.Random(writer)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for b in range(batches):
        drafts = []
        for i in range(size):
            client = Client(client_id=f"W{writer}-{b}-{i}", birth_date="1980-01-01")
            answers = random_answers(rnd)
            result = assess(q, answers, client, start + timedelta(seconds=b * size + i))
            drafts.append(assessment_draft(q, answers, client, result))
        stored = store.append(drafts)
        ids = [d.key for d in drafts]
        print("ack " + " ".join(f"{s.seq} {k}" for s, k in zip(stored, ids, strict=True)), flush=True)
    store.close()


if __name__ == "__main__":
    main()
