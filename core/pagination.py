"""Pagination that does not count a million rows on every page view.

On PostgreSQL, past ESTIMATE_ABOVE rows the page count comes from the planner's row
estimate (`EXPLAIN`), which costs a millisecond instead of a sequential count. Below
that, and on SQLite, the count is exact.
"""

from __future__ import annotations

import json

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 10_000


def planner_estimate(queryset) -> int | None:
    """PostgreSQL's estimate of how many rows `queryset` returns, or None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """A paginator whose count may be the planner's estimate.

    An estimate can be off either way, so while the count is estimated, page numbers
    are not capped by it and the pages themselves decide: a short page is the last, a
    full page has a next one when one more row exists, and a page past the end makes
    the paginator count exactly, once, and land on the last real page.
    """

    is_estimate = False

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "query"):
            estimate = planner_estimate(object_list)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                self.is_estimate = True
                return estimate
        return super().count

    def validate_number(self, number) -> int:
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.is_estimate and int(number) > 1:
                return int(number)  # past the estimate: the rows will tell
            raise

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if not self.is_estimate:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)

    def get_page(self, number) -> Page:
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            number = self.num_pages
        page = self.page(number)
        if self.is_estimate and number > 1 and not page.object_list:
            self.is_estimate = False
            self.__dict__["count"] = Paginator.count.func(self)
            self.__dict__.pop("num_pages", None)
            page = self.page(min(number, self.num_pages))
        return page

    def _get_page(self, *args, **kwargs) -> Page:
        return _EstimatedPage(*args, **kwargs)


class _EstimatedPage(Page):
    def has_next(self) -> bool:
        paginator = self.paginator
        if not paginator.is_estimate:
            return super().has_next()
        if len(self.object_list) < paginator.per_page:
            return False
        if self.number < paginator.num_pages:
            return True
        offset = self.number * paginator.per_page
        return paginator.object_list[offset : offset + 1].exists()

    def end_index(self) -> int:
        if self.paginator.is_estimate:
            return (self.number - 1) * self.paginator.per_page + len(self.object_list)
        return super().end_index()


def paginate(request, queryset, per_page: int = 50) -> dict:
    """Template context for a paginated list: the page, its paginator, and the filters' query."""
    paginator = EstimatedCountPaginator(queryset, per_page)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {"page": page, "paginator": paginator, "querystring": query.urlencode()}
