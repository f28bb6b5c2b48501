"""The random streams are data: every committed result ran with these formulas, so they are pinned here."""
import pytest
import torch

from mpqlab.core.seeding import STREAMS, generator, stream_seed


@pytest.mark.parametrize("stream,step,expected", [
    (None, 0, 5), ("shuffle", 3, 5 * 100_003 + 3), ("augment", 3, 5 * 7919 + 3 + 1),
    ("cutout", 3, 5 * 7907 + 3 + 2), ("synthetic", 1, 5 * 2 + 1 + 1)])
def test_stream_seeds_are_the_committed_formulas(stream, step, expected):
    assert stream_seed(5, stream, step) == expected
    assert torch.equal(torch.rand(4, generator=generator(5, stream, step)),
                       torch.rand(4, generator=torch.Generator().manual_seed(expected)))


def test_within_a_stream_nearby_seeds_and_epochs_do_not_collide_and_unknown_streams_are_refused():
    for name in STREAMS:
        steps = range(2) if name == "synthetic" else range(300)  # the synthetic stream's steps are the two splits
        seeds = {stream_seed(s, name, e) for s in range(68) for e in steps}
        assert len(seeds) == 68 * len(steps), name
    with pytest.raises(ValueError, match="unknown random stream 'shufle'"):
        stream_seed(0, "shufle")
