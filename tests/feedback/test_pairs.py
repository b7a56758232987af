"""Pair construction and length balancing, on hand-made candidate groups."""
import math
import random

import pytest

from rlaifv.feedback.pairs import Candidate, Pair, build_pairs, length_balance, pair_stats
from rlaifv.feedback.scoring import score_response

pytestmark = pytest.mark.cpu


def cand(i, score, text, *, n_claims=3, n_judged=None, n_rejected=None, n_repeats=0):
    return Candidate(
        text=text,
        score=float(score),
        n_claims=n_claims,
        n_judged=n_claims if n_judged is None else n_judged,
        n_rejected=int(-score) if n_rejected is None else n_rejected,
        n_repeats=n_repeats,
        sample_index=i,
    )


def group():
    return [
        cand(0, 0, "a b c", n_repeats=1),
        cand(1, -1, "a b c d"),
        cand(2, -2, "a b"),
        cand(3, 0, "x y z"),
        cand(4, -1, " a  b c "),  # same text as 0 up to whitespace
        cand(5, 0, "labeling failed", n_judged=2),
        cand(6, 0, "", n_claims=0),  # no claims: never labeled, never paired
    ]


def ids(pairs):
    return [(p.chosen.sample_index, p.rejected.sample_index) for p in pairs]


def test_all_pairs_with_gap_ties_identical_and_failures_dropped():
    pairs = build_pairs(group(), max_pairs=100, rng=random.Random(0))
    assert ids(pairs) == [(0, 1), (0, 2), (1, 2), (3, 1), (3, 2), (4, 2), (3, 4)]
    assert [p.gap for p in pairs] == [1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 1.0]
    assert isinstance(pairs[0], Pair) and pairs[0] == (pairs[0].chosen, pairs[0].rejected, 1.0)


def test_min_gap():
    assert ids(build_pairs(group(), max_pairs=100, rng=random.Random(0), min_gap=2)) == [(0, 2), (3, 2)]
    with pytest.raises(ValueError, match="min_gap"):
        build_pairs(group(), max_pairs=2, rng=random.Random(0), min_gap=0)


def test_sampling_is_deterministic_given_rng_and_input_order():
    first = ids(build_pairs(group(), max_pairs=2, rng=random.Random(7)))
    shuffled = group()
    random.Random(1).shuffle(shuffled)
    assert ids(build_pairs(shuffled, max_pairs=2, rng=random.Random(7))) == first
    assert len(first) == 2 and len(set(first)) == 2
    all_ids = ids(build_pairs(group(), max_pairs=100, rng=random.Random(0)))
    picks = {tuple(ids(build_pairs(group(), max_pairs=2, rng=random.Random(s)))) for s in range(20)}
    assert all(set(p) <= set(all_ids) for p in picks) and len(picks) > 3
    assert build_pairs(group(), max_pairs=0, rng=random.Random(0)) == []


def test_require_clean_chosen_and_well_formed():
    clean = build_pairs(group(), max_pairs=100, rng=random.Random(0), require_clean_chosen=True)
    assert ids(clean) == [(3, 1), (3, 2), (3, 4)]  # 0 holds a repeat, 1 and 4 a rejected claim
    formed = build_pairs(group(), max_pairs=100, rng=random.Random(0), well_formed=lambda t: t.endswith("c"))
    assert ids(formed) == [(0, 1), (0, 2)]


def test_bad_candidates_are_named():
    bad = group()
    bad[2] = cand(2, float("nan"), "x", n_rejected=0)
    with pytest.raises(ValueError, match=r"candidates\[2\]\.score"):
        build_pairs(bad, max_pairs=2, rng=random.Random(0))
    dup = group() + [cand(3, -1, "dup")]
    with pytest.raises(ValueError, match=r"candidates\[7\]\.sample_index"):
        build_pairs(dup, max_pairs=2, rng=random.Random(0))
    with pytest.raises(ValueError, match="max_pairs"):
        build_pairs(group(), max_pairs=-1, rng=random.Random(0))


def test_candidate_from_scored():
    scored = score_response(["A is B.", "A is B.", "C is D."], [True, True, False], repeat_as_rejected=True)
    c = Candidate.from_scored("A is B. A is B. C is D.", scored, sample_index=4)
    assert (c.score, c.n_claims, c.n_judged, c.n_rejected, c.n_repeats, c.sample_index) == (-2.0, 3, 3, 2, 1, 4)


def words(n):
    return " ".join(["w"] * n)


def mk_pair(len_chosen, len_rejected):
    return Pair(cand(0, 0, words(len_chosen)), cand(1, -1, words(len_rejected)), 1.0)


def test_length_balance_picks_closest_means_and_larger_r_on_ties():
    # shortening (len_r - len_c) / len_r: A 0.0, B 0.5, C 0.2, D -0.2
    a, b, c, d = mk_pair(10, 10), mk_pair(5, 10), mk_pair(8, 10), mk_pair(12, 10)
    # r < 0.2 keeps A, D (means 11 vs 10); 0.2 <= r < 0.5 keeps A, C, D (10 vs 10); r >= 0.5 all (8.75 vs 10)
    kept, r = length_balance([a, b, c, d])
    assert kept == [a, c, d]
    assert r == pytest.approx(0.48)
    stats = pair_stats([a, b, c, d], kept, r)
    assert (stats.n_before, stats.n_after) == (4, 3)
    assert (stats.mean_chosen_len_before, stats.mean_rejected_len_before) == (8.75, 10.0)
    assert (stats.mean_chosen_len_after, stats.mean_rejected_len_after) == (10.0, 10.0)


def test_length_balance_keeps_everything_when_chosen_never_shorter():
    pairs = [mk_pair(10, 10), mk_pair(12, 10), mk_pair(3, 0)]
    assert length_balance(pairs) == (pairs, 1.0)
    assert length_balance([]) == ([], 1.0)
    assert math.isnan(pair_stats([], [], 1.0).mean_chosen_len_after)


def test_length_balance_step_and_exact_grid_boundary():
    # shortening -0.1, exactly 0.1 and 0.2. Step 0.1: r = 0.0 keeps q (gap 1); r = 0.1 keeps q, p
    # (gap 0, the pair on the boundary counts as kept); r >= 0.2 keeps all (gap 2/3).
    q, p, m = mk_pair(11, 10), mk_pair(9, 10), mk_pair(8, 10)
    kept, r = length_balance([q, p, m], step=0.1)
    assert kept == [q, p] and r == 0.1
    with pytest.raises(ValueError, match="step"):
        length_balance([p], step=0)
