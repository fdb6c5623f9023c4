"""The configuration hash `make deploy` gives ConfigurationHash: any change of code or value changes it."""

from __future__ import annotations

from pathlib import Path

from deploy.configuration import PARAMETER, artifacts_digest, configuration_hash, effective

DEFAULTS = {"Stage": "dev", "IngestKeys": "", PARAMETER: ""}


def built(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_digest_of_the_build_changes_with_any_file_its_content_or_its_name(tmp_path: Path) -> None:
    first = artifacts_digest(built(tmp_path / "a", {"IngestFunction/app.py": "x = 1", "template.yaml": "t"}))
    same = artifacts_digest(built(tmp_path / "b", {"template.yaml": "t", "IngestFunction/app.py": "x = 1"}))
    edited = artifacts_digest(built(tmp_path / "c", {"IngestFunction/app.py": "x = 2", "template.yaml": "t"}))
    moved = artifacts_digest(built(tmp_path / "d", {"IngestFunction/main.py": "x = 1", "template.yaml": "t"}))
    assert first == same
    assert len({first, edited, moved}) == 3


def test_a_value_given_equal_to_its_default_hashes_as_if_it_were_left_out() -> None:
    assert effective({"Stage": "dev"}, DEFAULTS) == effective({}, DEFAULTS) == {"Stage": "dev", "IngestKeys": ""}
    assert configuration_hash("code", effective({"Stage": "dev"}, DEFAULTS)) == configuration_hash(
        "code", effective({}, DEFAULTS)
    )


def test_each_change_of_a_value_or_of_the_code_changes_the_hash() -> None:
    base = configuration_hash("code", effective({}, DEFAULTS))
    rotated = configuration_hash("code", effective({"IngestKeys": "pk_new"}, DEFAULTS))
    recoded = configuration_hash("other code", effective({}, DEFAULTS))
    assert len({base, rotated, recoded}) == 3
    # The hash never hashes itself: a deploy that passes the old one gets the same new one.
    assert configuration_hash("code", {PARAMETER: "old", "Stage": "dev"}) == configuration_hash(
        "code", {"Stage": "dev"}
    )
    assert len(base) == 64
