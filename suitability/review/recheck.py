"""Re-checks after a change (CSRC 办法 Art. 21): which earlier sales a product's new rating, or a
client's newest assessment, made unsuitable — a notification list ready for the firm to send.

:func:`recheck` streams the log once and remembers, for each client and product, the latest
*sale*: a ``suitable`` decision, or a ``requires_confirmation`` one the client confirmed; and, for
each client, their newest assessment. Each sale is then decided again
(:func:`suitability.matching.still_suitable`) with the product as the new catalog rates it and,
when the client was assessed again since, with the newest assessment. A sale is listed when a
reason fires that the client had not already accepted; each reason carries the policy's own
text in zh-CN and en. ``holdings`` limits it to what clients hold; a holding with no sale on
record is listed apart. With ``engine``, the re-check is recorded in the log as a ``recheck``
record, so the log shows that the firm looked and what it found.

Memory grows with the number of sales (four integers each), not with the log.
"""

from __future__ import annotations

import csv
import io
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._passes import long_pass
from ..codec import canonical_bytes, read_text, sha256_hex
from ..errors import InputError, IntegrityError, Problem
from ..i18n import pN_
from ..log.store import LogStore
from ..matching import Decision, still_suitable
from ..models import Assessment, Client
from ..policy import Policy, load_policy
from ..product import Product
from ..records import RecheckFinding, pseudonym, read_record
from .impact import category

if TYPE_CHECKING:
    from ..engine import Engine

#: The columns of the notification list (CSV), in order.
NOTICE_FIELDS = (
    "client_id",
    "product_id",
    "product_name_zh-CN",
    "product_name_en",
    "risk_level_was",
    "risk_level_now",
    "profile_was",
    "profile_now",
    "sale",
    "decision_seq",
    "assessment_seq",
    "causes",
    "codes",
    "text_zh-CN",
    "text_en",
)

#: Values of a notice a person reads by name: how the sale was made, and what caused the notice.
NAMES = (
    pN_("sale", "suitable"),
    pN_("sale", "confirmed"),
    pN_("cause", "product_rerated"),
    pN_("cause", "new_assessment"),
)


@dataclass
class Notice:
    """One sale that would no longer be suitable, with the policy's text for each reason."""

    client_id: str
    product_id: str
    product_name: dict[str, str]
    risk_level_was: str
    risk_level_now: str
    profile_was: str
    profile_now: str
    sale: str
    decision_seq: int
    decision_id: str
    assessment_seq: int
    assessment_id: str
    causes: list[str]
    codes: list[str]
    text: dict[str, str]

    def row(self) -> dict[str, Any]:
        """The notice as a flat row (:data:`NOTICE_FIELDS`)."""
        return {
            "client_id": self.client_id,
            "product_id": self.product_id,
            "product_name_zh-CN": self.product_name.get("zh-CN", ""),
            "product_name_en": self.product_name.get("en", ""),
            "risk_level_was": self.risk_level_was,
            "risk_level_now": self.risk_level_now,
            "profile_was": self.profile_was,
            "profile_now": self.profile_now,
            "sale": self.sale,
            "decision_seq": self.decision_seq,
            "assessment_seq": self.assessment_seq,
            "causes": " ".join(self.causes),
            "codes": " ".join(self.codes),
            "text_zh-CN": self.text["zh-CN"],
            "text_en": self.text["en"],
        }


@dataclass
class Recheck:
    """What a re-check found.

    Attributes:
        as_of: when it was made.
        catalog: the content hash of the re-rated products.
        holdings: the hash of the holdings it was limited to, or None.
        checked: how many sales it looked at.
        notices: the sales that would no longer be suitable.
        unmatched: holdings with no suitable or confirmed sale in the log.
        recorded: the seq and id of the ``recheck`` record, when it was recorded.
    """

    as_of: str
    catalog: str
    holdings: str | None
    checked: int
    notices: list[Notice] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    recorded: tuple[int, str] | None = None

    def as_json(self) -> str:
        """The re-check as JSON."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    def as_csv(self) -> str:
        """The notification list as CSV (:data:`NOTICE_FIELDS`)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, NOTICE_FIELDS, lineterminator="\n")
        writer.writeheader()
        for notice in self.notices:
            writer.writerow(notice.row())
        return out.getvalue()


def read_holdings(path: str | Path) -> list[tuple[str, str]]:
    """Read a holdings CSV: a header ``client_id,product_id``, then one holding a line.

    Raises:
        InputError: the file cannot be read, lacks the columns, or has an empty cell (every line named).
    """
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    missing = {"client_id", "product_id"} - set(reader.fieldnames or ())
    if missing:
        raise InputError(
            f"{path} is not a holdings file",
            [
                Problem(
                    f"expected the columns client_id,product_id, found {reader.fieldnames}", source=str(path), line=1
                )
            ],
        )
    pairs, problems = [], []
    for row in reader:
        client, product = (row.get("client_id") or "").strip(), (row.get("product_id") or "").strip()
        if not client or not product:
            problems.append(
                Problem(
                    "expected a client id and a product id, found an empty cell", source=str(path), line=reader.line_num
                )
            )
            continue
        pairs.append((client, product))
    if problems:
        raise InputError(f"{path} is not a valid holdings file", problems)
    return pairs


def _profile(result: dict[str, Any]) -> str:
    return category(result)


@long_pass()
def recheck(
    store: LogStore,
    catalog: Iterable[Product],
    holdings: Iterable[tuple[str, str]] | None = None,
    *,
    as_of: datetime,
    engine: Engine | None = None,
    actor: str | None = None,
    pseudonym_key: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> Recheck:
    """Re-check every latest sale in ``store`` against ``catalog`` (and each client's newest assessment).

    Args:
        store: the log (read; written only through ``engine``).
        catalog: the products as rated now.
        holdings: (client id, product id) pairs to limit the re-check to; None: every sale.
        as_of: the instant of the re-check (recorded with it).
        engine: when given, the re-check is recorded through it (a ``recheck`` record).
        actor: who made the re-check, recorded with it.
        pseudonym_key: the log's pseudonymization key: holdings name clients by their raw ids.

    Raises:
        IntegrityError: a record cannot be read (its seq is named).
    """
    products = {p.id: p for p in catalog}
    catalog_hash = sha256_hex(
        canonical_bytes(sorted((p.model_dump(mode="json") for p in products.values()), key=lambda p: p["id"]))
    )
    held: set[tuple[str, str]] | None = None
    holdings_hash = None
    if holdings is not None:
        given = sorted(set(holdings))
        holdings_hash = sha256_hex(canonical_bytes([list(h) for h in given]))
        ids = {c: pseudonym(c, pseudonym_key) if pseudonym_key else c for c, _ in given}
        held = {(ids[c], p) for c, p in given}
    sales: dict[tuple[str, str], tuple[int, str]] = {}  # (client, product) -> (decision seq, sale)
    waiting: OrderedDict[int, tuple[str, str]] = OrderedDict()  # requires_confirmation decisions
    newest: dict[str, int] = {}  # client -> seq of their newest assessment
    for seq, data, _ in store.scan():
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
        try:
            record = read_record(data)
            if record["type"] == "assessment":
                client = record["result"]["client_id"]
                if client is not None:
                    newest[client] = seq
            elif record["type"] == "decision":
                key = (record["client"]["client_id"], record["product"]["id"])
                if held is not None and key not in held:
                    continue
                outcome = record["result"]["outcome"]
                if outcome == "suitable":
                    sales[key] = (seq, "suitable")
                elif outcome == "requires_confirmation":
                    waiting[seq] = key
                    if len(waiting) > 100_000:
                        waiting.popitem(last=False)
            elif record["type"] == "confirmation":
                key_found = waiting.pop(record["decision_seq"], None)
                if key_found is not None:
                    sales[key_found] = (record["decision_seq"], "confirmed")
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                f"record {seq} cannot be read for the re-check",
                [Problem(f"expected a well-formed record, found {type(exc).__name__}: {exc}", f"/records/{seq}")],
                seq=seq,
            ) from None
    result = Recheck(as_of.isoformat().replace("+00:00", "Z"), catalog_hash, holdings_hash, len(sales))
    if held is not None:
        result.unmatched = sorted(k for k in held if k not in sales)
    policies: dict[str, Policy] = {}
    findings: list[RecheckFinding] = []
    used: dict[str, Product] = {}
    for (client_id, product_id), (d_seq, sale) in sorted(sales.items(), key=lambda item: item[1][0]):
        decision_record = _record(store, d_seq, "decision")
        decision = Decision.model_validate(decision_record["result"])
        policy_ref = decision_record["policy"]
        policy = policies.get(policy_ref["hash"])
        if policy is None:
            stored = store.find(policy_ref["hash"])
            if stored is None:
                raise IntegrityError(f"the policy of decision {d_seq} is not in the log", seq=d_seq)
            policy = policies[policy_ref["hash"]] = load_policy(read_record(stored.data)["document"], "log")  # type: ignore[typeddict-item]
        now = products.get(product_id, decision.product)
        a_seq = decision_record["assessment_seq"]
        own = _record(store, a_seq, "assessment")
        reasons = still_suitable(decision, Assessment.model_validate(own["result"]), decision.client, now, policy,
                                 confirmed=sale == "confirmed")  # fmt: skip
        causes = ["product_rerated"] if reasons else []
        checked_seq, checked = a_seq, own
        latest = newest.get(client_id, a_seq)
        if latest > a_seq:
            later = _record(store, latest, "assessment")
            facts = later.get("client")
            client = Client.model_validate(facts) if facts is not None else decision.client
            again = still_suitable(decision, Assessment.model_validate(later["result"]), client, now, policy,
                                   confirmed=sale == "confirmed")  # fmt: skip
            if again:
                causes.append("new_assessment")
                reasons = again  # the newest assessment is the client as they are now
                checked_seq, checked = latest, later
        if not reasons:
            continue
        if now != decision.product:
            used[now.id] = now
        codes = [r.code for r in reasons]
        findings.append(
            RecheckFinding(
                client_id=client_id,
                product_id=product_id,
                decision_id=decision.id,
                decision_seq=d_seq,
                assessment_id=checked["result"]["id"],
                assessment_seq=checked_seq,
                sale=sale,  # type: ignore[typeddict-item]
                causes=causes,
                codes=codes,
            )
        )
        result.notices.append(
            Notice(
                client_id,
                product_id,
                dict(now.name),
                decision.product.risk_level,
                now.risk_level,
                _profile(own["result"]),
                _profile(checked["result"]),
                sale,
                d_seq,
                decision.id,
                checked_seq,
                checked["result"]["id"],
                causes,
                codes,
                {lang: " ".join(r.text[lang] for r in reasons) for lang in ("zh-CN", "en")},
            )
        )
    if engine is not None:
        result.recorded = engine.record_recheck(
            findings,
            sorted(used.values(), key=lambda p: p.id),
            checked=result.checked,
            catalog=catalog_hash,
            holdings=holdings_hash,
            as_of=as_of,
            actor=actor,
        )
    return result


def _record(store: LogStore, seq: int, kind: str) -> Any:
    stored = store.get(seq)
    record = read_record(stored.data) if stored is not None else None
    if record is None or record["type"] != kind:
        raise IntegrityError(
            f"record {seq} is not the {kind} it was named as",
            [
                Problem(
                    f"expected a {kind} at seq {seq}, found {record['type'] if record else 'none'}", f"/records/{seq}"
                )
            ],
            seq=seq,
        )
    return record
