"""What a long job's row (a batch of codes, of passes) shows and how it ends."""

from __future__ import annotations

from django.utils import timezone


class BatchProgress:
    """For models with `quantity`, `generated`, `status` (with DONE and FAILED), `error`
    and `finished_at`."""

    @property
    def percent(self) -> int:
        return 100 if not self.quantity else min(100, self.generated * 100 // self.quantity)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @classmethod
    def record_end(cls, pk: int, error: Exception | None = None) -> None:
        """Done, or failed with the error's text; written straight to the row."""
        cls.objects.filter(pk=pk).update(
            status=cls.Status.FAILED if error else cls.Status.DONE,
            error=str(error)[:2000] if error else "",
            finished_at=timezone.now(),
        )
