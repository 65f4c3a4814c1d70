"""The GO splitter behaves like sqlcmd; each edge case is one test."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from songsdb.batches import join_batches, split_batches


def texts(script: str) -> list[str]:
    return [b.text for b in split_batches(script) if not b.is_empty]


def test_go_alone_on_its_line_separates_batches() -> None:
    assert texts("SELECT 1;\nGO\nSELECT 2;\n") == ["SELECT 1;\n", "SELECT 2;\n"]


def test_go_is_case_insensitive_and_may_be_indented() -> None:
    assert texts("SELECT 1;\n   go  \nSELECT 2;\n\tGo\n") == ["SELECT 1;\n", "SELECT 2;\n"]


def test_go_with_a_count_repeats_the_batch() -> None:
    batches = split_batches("INSERT INTO t VALUES (1);\nGO 5\n")
    assert batches[0].repeat == 5
    assert batches[0].text == "INSERT INTO t VALUES (1);\n"


def test_go_with_a_trailing_comment_is_a_separator() -> None:
    batches = split_batches("SELECT 1;\nGO -- end of the first batch\nSELECT 2;\n")
    assert [b.text for b in batches] == ["SELECT 1;\n", "SELECT 2;\n"]
    assert split_batches("SELECT 1;\nGO 3 -- thrice\n")[0].repeat == 3


def test_go_inside_a_string_does_not_separate() -> None:
    script = "SELECT N'first\nGO\nstill the string';\nGO\n"
    assert texts(script) == ["SELECT N'first\nGO\nstill the string';\n"]


def test_doubled_quotes_do_not_end_a_string() -> None:
    script = "SELECT 'it''s\nGO\nstill';\nGO\nSELECT 2;\n"
    assert texts(script) == ["SELECT 'it''s\nGO\nstill';\n", "SELECT 2;\n"]


def test_go_inside_a_block_comment_does_not_separate() -> None:
    script = "/* a comment\nGO\n*/\nSELECT 1;\nGO\n"
    assert texts(script) == ["/* a comment\nGO\n*/\nSELECT 1;\n"]


def test_block_comments_nest() -> None:
    script = "/* outer /* inner */\nGO\n*/\nSELECT 1;\nGO\n"
    assert texts(script) == ["/* outer /* inner */\nGO\n*/\nSELECT 1;\n"]


def test_go_inside_brackets_or_double_quotes_does_not_separate() -> None:
    assert texts("SELECT 1 AS [a\nGO\nb];\nGO\n") == ["SELECT 1 AS [a\nGO\nb];\n"]
    assert texts('SELECT 1 AS "a\nGO\nb";\nGO\n') == ['SELECT 1 AS "a\nGO\nb";\n']


def test_a_quote_inside_a_line_comment_opens_nothing() -> None:
    assert texts("SELECT 1; -- don't\nGO\nSELECT 2;\n") == ["SELECT 1; -- don't\n", "SELECT 2;\n"]


def test_goto_and_names_starting_with_go_are_not_separators() -> None:
    script = "GOTO done;\nGOAL\nGO_TABLE\ngo.schema\ndone:\nGO\n"
    assert texts(script) == ["GOTO done;\nGOAL\nGO_TABLE\ngo.schema\ndone:\n"]


def test_go_followed_by_other_text_is_not_a_separator() -> None:
    assert texts("SELECT 1\nGO SELECT 2\n") == ["SELECT 1\nGO SELECT 2\n"]


def test_last_go_without_a_newline_still_separates() -> None:
    batches = split_batches("SELECT 1;\nGO")
    assert [b.text for b in batches] == ["SELECT 1;\n", ""]
    assert batches[-1].is_empty


def test_windows_line_endings_are_understood() -> None:
    assert texts("SELECT 1;\r\nGO\r\nSELECT 2;\r\n") == ["SELECT 1;\r\n", "SELECT 2;\r\n"]


def test_start_lines_point_at_each_batch_in_the_file() -> None:
    batches = split_batches("SELECT 1;\nGO\n\nSELECT 2;\nGO\nSELECT 3;\n")
    assert [b.start_line for b in batches] == [1, 3, 6]


def test_a_script_without_go_is_one_batch() -> None:
    assert texts("SELECT 1;\nSELECT 2;\n") == ["SELECT 1;\nSELECT 2;\n"]


def test_a_sqlcmd_command_line_is_not_sent_to_the_server() -> None:
    batches = split_batches(":on error exit\n-- header\nSET XACT_ABORT ON;\nGO\nSELECT 1;\n")
    first = batches[0]
    assert first.commands == (":on error exit",)
    assert first.sql == "\n-- header\nSET XACT_ABORT ON;\n"  # the line is left empty: line numbers still hold
    assert first.text.startswith(":on error exit\n")  # the split stays lossless
    assert batches[1].commands == () and batches[1].sql == batches[1].text == "SELECT 1;\n"


def test_sqlcmd_commands_are_recognised_in_any_case_indented_and_with_arguments() -> None:
    script = "  :ON ERROR EXIT\n:setvar Name \"x\"\n:r other.sql\n\t:!! dir\nSELECT 1;\n"
    batch = split_batches(script)[0]
    assert batch.commands == (":ON ERROR EXIT", ':setvar Name "x"', ":r other.sql", ":!! dir")
    assert batch.sql == "\n\n\n\nSELECT 1;\n"


def test_a_colon_inside_a_string_or_comment_or_not_first_on_its_line_is_sql() -> None:
    script = "SELECT N'\n:on error exit\n';\n/*\n:setvar x 1\n*/\nSELECT 1 AS a -- :r x\nlabel:\nSELECT * FROM ::fn_x();\n"
    batch = split_batches(script)[0]
    assert batch.commands == () and batch.sql == batch.text == script


def test_a_batch_holding_only_sqlcmd_commands_is_empty() -> None:
    batches = split_batches(":on error exit\nGO\nSELECT 1;\n")
    assert batches[0].is_empty and not batches[1].is_empty
    assert texts(":on error exit\nGO\nSELECT 1;\n") == ["SELECT 1;\n"]


sql_pieces = st.lists(
    st.sampled_from(
        [
            "SELECT 1;", "GO", "go 2", "GO -- c", "'", "''", "[", "]", '"', "/*", "*/", "--", "GOTO x", "N'GO'", " ",
            "\n", "\r\n", "é😀", ":on error exit", ":setvar x 1", "::fn",
        ]
    )
    | st.text(alphabet="GOgo '[]\"*/-\n\r;ab1", max_size=8),
    max_size=40,
).map("".join)


@given(sql_pieces)
@example("SELECT '\nGO\n';\nGO\n")
@example(":on error exit\nSELECT 1;\nGO\n")
def test_joining_the_batches_gives_back_the_input(script: str) -> None:
    assert join_batches(split_batches(script)) == script


@given(sql_pieces)
@example(":on error exit\r\r\n")  # found by hypothesis: a line ending of two carriage returns stays whole
def test_the_sql_of_a_batch_keeps_its_lines_and_drops_only_command_lines(script: str) -> None:
    for batch in split_batches(script):
        sent, written = batch.sql.split("\n"), batch.text.split("\n")
        assert len(sent) == len(written)
        dropped = [w for s, w in zip(sent, written) if s != w]
        assert all(s.strip("\r") == "" for s, w in zip(sent, written) if s != w)  # only its line ending is kept
        assert [w.strip() for w in dropped] == list(batch.commands)


@given(before=st.text(alphabet="ab \n;", max_size=20), inside=st.text(alphabet="GOgo \nab", max_size=20))
def test_go_inside_a_string_never_splits(before: str, inside: str) -> None:
    script = f"{before}SELECT N'\nGO\n{inside}\nGO 7\n';\n"
    batches = split_batches(script)
    assert len(batches) == 1
    assert batches[0].text == script


@given(inside=st.text(alphabet="GOgo \nab*", max_size=20))
def test_go_inside_a_comment_never_splits(inside: str) -> None:
    script = f"/*\nGO\n{inside.replace('*/', '')}\nGO\n*/\nSELECT 1;\n"
    assert len(split_batches(script)) == 1


@pytest.mark.parametrize("count", [1, 2, 10, 100])
def test_repeat_counts_are_read_as_numbers(count: int) -> None:
    assert split_batches(f"SELECT 1;\nGO {count}\n")[0].repeat == count
