"""`xinzheng keys list` and `xinzheng keys rotate --authority CODE` as an operator runs them."""

from __future__ import annotations

from tests.cli.conftest import xinzheng

POLICE = "113301000024891313"  # an issuer of the demo city
HUIMIN_BANK = "91330100MA2H00001P"  # a bank: it signs no certificates


def test_rotation_retires_the_current_key_and_seeding_again_keeps_the_documents(empty_database_url: str) -> None:
    url = empty_database_url
    assert xinzheng("seed", database_url=url).returncode == 0
    before = xinzheng("keys", "list", database_url=url)
    assert before.returncode == 0 and POLICE in before.stdout

    done = xinzheng("keys", "rotate", "--authority", POLICE, database_url=url)

    assert done.returncode == 0, done.stderr
    new_kid = done.stdout.split()[-1]
    assert done.stdout.strip() == f"{POLICE} now signs with {new_kid}"
    lines = {line.split()[-1]: line for line in xinzheng("keys", "list", database_url=url).stdout.splitlines()[1:]}
    police = [line for line in lines.values() if line.startswith(POLICE)]
    assert len(police) == 2
    assert " - " in lines[new_kid] and lines[new_kid].split()[-2] == "0"  # current, signed nothing yet
    (old,) = (line for kid, line in lines.items() if kid != new_kid and line.startswith(POLICE))
    assert " - " not in old and int(old.split()[-2]) > 0  # retired, its certificates still in force

    # Seeding again re-signs nothing: the documents on file are still the content, under the old key.
    assert xinzheng("seed", database_url=url).returncode == 0
    again = xinzheng("keys", "list", database_url=url).stdout
    (current,) = (line for line in again.splitlines() if line.endswith(new_kid))
    assert current.split()[-2] == "0"


def test_a_bad_authority_is_one_line(empty_database_url: str) -> None:
    url = empty_database_url
    assert xinzheng("seed", database_url=url).returncode == 0
    for code, reason in (
        ("not-a-code", "--authority:"),
        ("91110000600037341L", "is not an authority on file"),
        (HUIMIN_BANK, "is not an issuer (BANK)"),
    ):
        done = xinzheng("keys", "rotate", "--authority", code, database_url=url)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("xinzheng keys: ") and reason in done.stderr


def test_an_es256_key_may_be_rotated_in(empty_database_url: str) -> None:
    url = empty_database_url
    assert xinzheng("seed", database_url=url).returncode == 0
    done = xinzheng("keys", "rotate", "--authority", POLICE, "--algorithm", "ES256", database_url=url)
    assert done.returncode == 0, done.stderr
    kid = done.stdout.split()[-1]
    line = next(line for line in xinzheng("keys", "list", database_url=url).stdout.splitlines() if line.endswith(kid))
    assert line.split()[1] == "ES256"
