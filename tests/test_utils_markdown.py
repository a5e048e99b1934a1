from utils.markdown import table, table_row


def test_table_lines():
    assert table(["a", "b"], [[1, ""], ("x", 2.5)]) == ["| a | b |", "|---|---|", "| 1 |  |", "| x | 2.5 |"]


def test_header_only_and_row():
    assert table(["only"]) == ["| only |", "|---|"]
    assert table_row(["`id`", 0]) == "| `id` | 0 |"
