"""The one Page of a list that the discussion and the list of one's submissions share."""

from __future__ import annotations

import pytest

from gan_platform.paging import Page, page_count


@pytest.mark.parametrize(("total", "size", "pages"), [(0, 20, 1), (1, 20, 1), (20, 20, 1), (21, 20, 2), (101, 50, 3)])
def test_page_count_is_at_least_one_and_rounds_up(total, size, pages):
    assert page_count(total=total, size=size) == pages


def test_a_middle_page_has_a_previous_and_a_next_one():
    # given page 2 of 45 items, 20 a page
    page = Page(items=list(range(20, 40)), number=2, size=20, total=45)
    # then
    assert (page.pages, page.has_previous, page.has_next) == (3, True, True)


def test_the_only_page_of_an_empty_list_has_neither_neighbour():
    page = Page(items=[], number=1, size=50, total=0)
    assert (page.pages, page.has_previous, page.has_next) == (1, False, False)


def test_a_page_past_the_last_has_a_previous_one_but_no_next():
    # the list of one's submissions answers such a page empty
    page = Page(items=[], number=4, size=50, total=60)
    assert (page.pages, page.has_previous, page.has_next) == (2, True, False)
