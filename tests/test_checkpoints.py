"""The shipped checkpoints: every weights file has its card, and the table in checkpoints/README.md says what the
cards say (a finished training run changes the card; the table must follow)."""
import json

from conftest import REPO

CKPT = REPO / "checkpoints"


def _table_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (CKPT / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_checkpoint_has_a_card_and_a_row_that_agrees_with_it():
    cards = sorted(CKPT.glob("*.json"))
    assert cards, "no checkpoint cards found"
    assert {p.stem for p in CKPT.glob("*.safetensors")} == {p.stem for p in cards}
    rows = _table_rows()
    assert set(rows) == {p.stem + ".safetensors" for p in cards}
    for path in cards:
        card = json.loads(path.read_text())
        name, model, data, epochs, seed, top1, minutes, command = rows[path.stem + ".safetensors"]
        assert model == card["model"], name
        assert data.split()[0] == card["dataset"] and f"{card['train_size']} train" in data, name
        assert int(epochs) == card["epochs"] and int(seed) == card["seed"], name
        assert top1.startswith(f"{card['test_top1']:.2f} ({card['test_n']} test images)"), name
        assert minutes.split()[0] == f"{round(card['train_time_s'] / 60, 1):.1f}", name
        assert command == f"`{card['command']}`", name
