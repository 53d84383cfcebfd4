"""core.pdf: documents rendered and joined in order, also inside a worker's daemon process."""

import multiprocessing

from pypdf import PdfReader

from core.pdf import documents_to_pdf


def _pages(data: bytes) -> list[str]:
    import io

    return [page.extract_text().strip() for page in PdfReader(io.BytesIO(data)).pages]


def test_documents_are_joined_in_order():
    docs = [f"<p>Document {i}</p>" for i in range(3)]
    assert _pages(documents_to_pdf(docs, processes=2)) == ["Document 0", "Document 1", "Document 2"]


def _render_in_daemon(queue):
    queue.put(len(documents_to_pdf(["<p>a</p>", "<p>b</p>"], processes=2)))


def test_a_daemon_process_such_as_a_celery_worker_child_renders_without_children():
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_render_in_daemon, args=(queue,), daemon=True)
    worker.start()
    size = queue.get(timeout=60)
    worker.join(timeout=10)
    assert size > 500 and worker.exitcode == 0


def test_a_template_that_tries_to_read_a_file_fails_loudly():
    import pytest
    from weasyprint.urls import FatalURLFetchingError

    with pytest.raises(FatalURLFetchingError, match="file:///etc/passwd"):
        documents_to_pdf(['<img src="file:///etc/passwd"><p>secret</p>'])
