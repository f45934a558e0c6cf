"""Notifications: nobody has to watch the review to learn that something needs them.

The ``notifier`` role of ``wisesync run`` looks, every ``notify.interval``, for

* ``run_failed``: a run that ended with failed or dead-lettered records, or whose extraction
  failed;
* ``connection``: a ledger connection revoked (its token marked invalid) or about to expire
  (unused for nearly as long as the ledger keeps a refresh token);
* ``dead_letters``: records sitting in the dead-letter topic, not replayed;
* ``unreachable``: ConnectWise or a ledger answering nothing but errors, or Postgres or the
  transport unreachable, for longer than ``notify.unreachable_after``;

and sends each company one summary of what is new by e-mail (SMTP, STARTTLS, AUTH) and/or
a signed JSON webhook with a Slack/Teams ``text`` field. Each event is sent once per channel,
also across restarts (table ``notifications_sent``). ``wisesync notify test`` sends a test.

Parts: :mod:`.settings` (``[notify]``, ``[companies.notify]``), :mod:`.events` (finding
events), :mod:`.email`, :mod:`.webhook` (the channels), :mod:`.notifier` (the role).
"""
