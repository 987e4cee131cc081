"""Step 2 (extract) for NICE CXone: the documented shape of each answer we read.

Like ``producer.api.pages``: a 2xx answer is data only if it has the shape the reference
sheet documents (sections in brackets); otherwise ``ApiClient`` retries the same request with
backoff and then fails the window. Each check returns None or a short reason in our words. Pure.

- discovery [§1.3]: ``api_endpoint``, an ``http(s)://`` URL.
- completed contacts page [§2.1]: ``completedContacts``, a list of objects; ``totalRecords`` an
  integer when present; ``_links`` an object whose ``next`` is a string or null when present.
  (An empty result is a 204 with no body, not a 200: an absent body is not this shape.)
- job created [§3.1]: a non-empty JSON string (the job id).
- job status [§3.1, §3.2]: ``jobStatus``, an object with a ``status`` string; a ``SUCCEEDED``
  status carries ``result.url`` (a string).
"""

from __future__ import annotations

from typing import Any

from producer.api.pages import Shape

__all__ = ["Shape", "contacts_page", "discovery", "job_created", "job_status"]


def discovery(body: Any) -> str | None:
    """The tenant discovery answer: ``{"api_endpoint": "https://...", ...}``."""
    if not isinstance(body, dict):
        return _not_object(body)
    endpoint = body.get("api_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        return "no api_endpoint URL"
    return None


def contacts_page(body: Any) -> str | None:
    """A completed-contacts page (a 200; the empty result is a 204)."""
    if not isinstance(body, dict):
        return _not_object(body)
    contacts = body.get("completedContacts")
    if not isinstance(contacts, list):
        return "completedContacts is not a list"
    if not all(isinstance(item, dict) for item in contacts):
        return "completedContacts holds an item that is not an object"
    total = body.get("totalRecords")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        return "totalRecords is not an integer"
    return _links(body.get("_links"))


def _links(links: Any) -> str | None:
    if links is None:
        return None
    if not isinstance(links, dict):
        return "_links is not an object"
    following = links.get("next")
    if following is not None and not isinstance(following, str):
        return "_links.next is not a string"
    return None


def job_created(body: Any) -> str | None:
    """The job-created answer: the job id as a JSON string."""
    return None if isinstance(body, str) and body.strip() else "no job id string"


def job_status(body: Any) -> str | None:
    """A job status answer: ``{"jobStatus": {"status": "...", "result": {...}}}``."""
    if not isinstance(body, dict):
        return _not_object(body)
    job = body.get("jobStatus")
    if not isinstance(job, dict):
        return "no jobStatus object"
    status = job.get("status")
    if not isinstance(status, str) or not status:
        return "no status"
    if status == "SUCCEEDED":
        result = job.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("url"), str):
            return "SUCCEEDED without result.url"
    return None


def _not_object(body: Any) -> str:
    return f"body is {'empty' if body is None else 'not an object'}"
