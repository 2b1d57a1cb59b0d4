"""Properties of decisions (issue: matching policies, decisions and the confirmation flow)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from suitability import Assessment, Client, Product, decide

from .strategies import AS_OF, BANK, CSRC, LEVELS, PROFILES, assessments, clients, products

ORDER = {"suitable": 0, "requires_confirmation": 1, "blocked": 2}
MISMATCH = {"RISK_ABOVE_PROFILE", "HORIZON_MISMATCH", "VARIETY_MISMATCH"}
policies = st.sampled_from([CSRC, BANK])


@given(
    a=assessments(), product=products, client=clients, initiator=st.sampled_from(["client", "firm"]), policy=policies
)
def test_monotone_in_profile(a: Assessment, product: Product, client: Client, initiator: str, policy) -> None:  # type: ignore[no-untyped-def]
    """What Ck may buy, Ck+1 may buy: a higher profile never gets a worse outcome."""
    outcomes = [
        ORDER[decide(a.model_copy(update={"profile": p}), product, client, policy, initiator, AS_OF).outcome]  # type: ignore[arg-type]
        for p in PROFILES
    ]
    assert outcomes == sorted(outcomes, reverse=True)


@given(a=assessments(), product=products, client=clients, policy=policies)
def test_firm_initiated_mismatch_is_always_blocked(a: Assessment, product: Product, client: Client, policy) -> None:  # type: ignore[no-untyped-def]
    """CSRC 办法 Art. 22(3)-(4): the firm never offers what does not fit."""
    d = decide(a, product, client, policy, "firm", AS_OF)
    if MISMATCH & {r.code for r in d.reasons}:
        assert d.outcome == "blocked"
        assert "FIRM_INITIATED_MISMATCH" in {r.code for r in d.reasons}
    assert d.outcome != "requires_confirmation" or {r.code for r in d.reasons} == {"SPECIAL_CARE_REQUIRED"}


@given(
    a=assessments(), product=products, client=clients, initiator=st.sampled_from(["client", "firm"]), policy=policies
)
def test_lowest_category_never_gets_above_its_limit(
    a: Assessment, product: Product, client: Client, initiator: str, policy
) -> None:  # type: ignore[no-untyped-def]
    """CSRC 办法 Art. 22(5): not even on the client's own request."""
    lowest = a.lowest_category or not client.full_civil_capacity
    d = decide(a, product, client, policy, initiator, AS_OF)  # type: ignore[arg-type]
    if lowest and LEVELS.index(product.risk_level) > LEVELS.index(policy.model.lowest_category_max_risk):
        assert d.outcome == "blocked"
        assert "LOWEST_CATEGORY" in {r.code for r in d.reasons}


@given(a=assessments(), product=products, client=clients, initiator=st.sampled_from(["client", "firm"]), policy=policies,
       later=st.integers(0, 1000))  # fmt: skip
def test_equal_inputs_give_equal_decisions(
    a: Assessment, product: Product, client: Client, initiator: str, policy, later: int
) -> None:  # type: ignore[no-untyped-def]
    """Rules are pure functions of their inputs and as_of: a replay reproduces the decision, id included."""
    when = AS_OF + timedelta(days=later)
    one = decide(a, product, client, policy, initiator, when)  # type: ignore[arg-type]
    copies = (Assessment.model_validate_json(a.model_dump_json()), Product.model_validate_json(product.model_dump_json()),
              Client.model_validate_json(client.model_dump_json()))  # fmt: skip
    two = decide(*copies, policy, initiator, when)  # type: ignore[arg-type]
    assert one == two


# --- issue 10: facts given at decide time never differ unnoticed from the assessment's ----------

fact_values = st.fixed_dictionaries(
    {
        "client_id": st.sampled_from(["CN-1", "CN-2"]),
        "investor_type": st.sampled_from(["ordinary", "professional"]),
        "birth_date": st.none() | st.dates(min_value=AS_OF.date().replace(year=1920), max_value=AS_OF.date()),
        "full_civil_capacity": st.booleans(),
    }
)


@given(recorded=fact_values, given_=fact_values, days=st.integers(0, 800))
def test_only_the_recorded_facts_pass(recorded: dict, given_: dict, days: int) -> None:  # type: ignore[type-arg]
    """A decision's facts pass the check exactly when they are the assessment's; each difference is named."""
    from suitability.matching import client_fact_differences

    was, now = Client.model_validate(recorded), Client.model_validate(given_)
    problems = client_fact_differences(was, AS_OF, now, AS_OF + timedelta(days=days))
    assert (problems == []) == (was == now)
    assert {p.pointer.removeprefix("/client/") for p in problems} == {k for k in recorded if recorded[k] != given_[k]}


@given(born=st.dates(min_value=AS_OF.date().replace(year=1920), max_value=AS_OF.date()), days=st.integers(0, 3000))
def test_a_recorded_age_accepts_the_true_birth_date_and_age_later(born, days: int) -> None:  # type: ignore[no-untyped-def]
    """Under a pseudonym key the assessment holds the age; the true facts at any later moment still pass."""
    from suitability.matching import client_fact_differences

    truth = Client(client_id="p", birth_date=born)
    later = AS_OF + timedelta(days=days)
    recorded = Client(client_id="p", age=truth.age_at(AS_OF.date()))
    assert client_fact_differences(recorded, AS_OF, truth, later) == []
    aged = Client(client_id="p", age=truth.age_at(later.date()))
    assert client_fact_differences(recorded, AS_OF, aged, later) == []
    if recorded.age:  # a year younger than recorded is never the same client
        younger = Client(client_id="p", age=recorded.age - 1)
        assert client_fact_differences(recorded, AS_OF, younger, later) != []


@given(
    born=st.dates(min_value=AS_OF.date().replace(year=1920), max_value=AS_OF.date()),
    days=st.integers(0, 3000),
)
def test_a_recorded_age_is_never_taken_lower_later(born, days: int) -> None:  # type: ignore[no-untyped-def]
    """Under a key only the age is kept: the age a later decision uses is at least the true one, and at
    most one year more (special care can come early, never late)."""
    from suitability.models import oldest_age_at

    truth = Client(client_id="p", birth_date=born)
    later = (AS_OF + timedelta(days=days)).date()
    used = oldest_age_at(truth.age_at(AS_OF.date()), AS_OF.date(), later)  # type: ignore[arg-type]
    assert truth.age_at(later) <= used <= truth.age_at(later) + 1  # type: ignore[operator]
    assert oldest_age_at(truth.age_at(AS_OF.date()), AS_OF.date(), AS_OF.date()) == truth.age_at(AS_OF.date())  # type: ignore[arg-type]
