"""Every regex of the project, compiled once, plus the cheap substring gates tested before them.

Rules that keep the hot path fast and hostile lines harmless:

* a line is only looked at when it passes the gate (``gate.Gate``: one of the GATE substrings, most mail-log
  lines contain none);
* each regex is used with ``match`` at a fixed position (never ``search`` over attacker text), uses bounded
  character classes that exclude its own delimiters, and has no nested or adjacent overlapping quantifiers,
  so matching is linear in the line length. The exceptions are the gates' own patterns
  (``GATE_AUTH_PATTERNS``): they are searched for by a literal part of the gate,
  and what they check around each occurrence is a fixed look back or a bounded stretch of the line;
* addresses come from fixed daemon-written fields only; usernames are cut out with string operations
  anchored on the daemon's structure (see ``lines.py``).
"""

from __future__ import annotations

import re

# --- substring gates (gate.Gate tests them before any regex) ----------------------------------------------
GATE_AUTH = (
    "auth"  # SASL failures, auth=N/M summaries, auth processes, plesk_saslauthd, dovecot "auth failed"
)
GATE_SASL_LOGIN = (
    "sasl_method="  # Postfix successful SASL login (client=..., sasl_method=..., sasl_username=)
)
GATE_LOGIN = "Login: "  # Dovecot successful login (up to 2.3)
GATE_LOGGED_IN = "Logged in: "  # Dovecot successful login (2.4: Debian 13)
GATE_AFTER_AUTH = "after AUTH"  # too many errors after AUTH
DC_NO_AUTH = "(no auth attempts"  # Dovecot's informational disconnect: no password was tried

# Not every "auth" makes a line a candidate (these are the gate's own regexes, searched for with their
# literal "auth" prefix; the lookaheads after it are bounded, so a hostile line costs linear time):
# * the start of the counters that end an smtpd ``disconnect from`` summary in which every AUTH succeeded and
#   a recipient was accepted ("... auth=1 mail=1 rcpt=1 data=1 quit=1 commands=5"): the queue file was
#   opened, so the ``client=..., sasl_username=`` line already reported that login (the bulk of a
#   submission server's log). Only counters may follow it to the end of the line, at most 40 of them.
#   The summary's parser applies the same rule (a gate only saves work; it never decides alone);
# * for callers without informational kinds, the "auth" of Dovecot's ``(no auth attempts``.
_PF_COUNTER = r" [a-z_]{1,24}=[0-9]{1,9}(?:/[0-9]{1,9})?"  # "name=N" or "name=N/M" of a summary
# (the parser's rule for summaries, lines._postfix, on the counters after "auth": none failed, a recipient
# accepted and none refused)
_SUMMARY_DONE = (
    r"(?!(?==[0-9]{1,6}(?:" + _PF_COUNTER + r"){0,40}\r?(?:\n|\Z))"
    r"(?=[^\n]*? rcpt=[1-9])(?![^\n]*? rcpt=0))"
)
_NO_AUTH_HEAD, _NO_AUTH_TAIL = (re.escape(part) for part in DC_NO_AUTH.split(GATE_AUTH))
_NOT_NO_AUTH = r"(?!(?<=" + _NO_AUTH_HEAD + GATE_AUTH + r")" + _NO_AUTH_TAIL + r")"
# Searched for over whole read buffers, these patterns start with a rare letter of their gate and look back
# for the rest: the regex engine jumps from one occurrence of a pattern's first letter to the next at C
# speed, and "u" is far rarer in a mail log than "a".
_AUTH_AT = "uth(?<=" + GATE_AUTH + ")"  # "auth", found by its "u"
GATE_AUTH_PATTERNS = {  # info kinds wanted -> the pattern of a gate "auth" (str; callers compile it)
    True: _AUTH_AT + _SUMMARY_DONE,
    False: _AUTH_AT + _NOT_NO_AUTH + _SUMMARY_DONE,
}

# --- timestamps ---------------------------------------------------------------------------------------------
# RFC 3339 / rsyslog high precision ("2026-11-26T17:29:09.818109+00:00 ") and "2026-11-26 08:08:18 " (local)
ISO_TIME_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|z|[+-]\d\d:?\d\d)?(?: |$)"
)
# RFC 3164 variants that miss the fixed columns: "Aug 3 15:30:49", "Aug  3 15:30:49.123456"
RFC3164_LOOSE_RE = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(\.\d{1,9})?(?: |$)")

# --- syslog header after the timestamp: "[host ]program[[pid]|(id)]: " --------------------------------------
# The host never ends with ":" (so "imap-login: Info: ..." of Dovecot's own log has no host); the program
# name has no spaces, brackets, parentheses or colons.
HEADER_RE = re.compile(r"(?:(\S{0,254}[^\s:]) )?([^\s\[\]():]{1,64})(?:\[(\d{1,10})\]|\([^\s()]{0,40}\))?: ")

# --- Postfix smtpd ------------------------------------------------------------------------------------------
# "name[ADDR]" or "name[ADDR]:port": the client field smtpd writes; the name is "unknown" or a hostname that
# passed Postfix's valid_hostname() and forward confirmation (letters, digits, "-", "." and "_" only).
_PF_CLIENT = r"([-A-Za-z0-9._]{0,255})\[([0-9A-Fa-f:.]{1,45})\](?::\d{1,5})?"
PF_SASL_FAIL_RE = re.compile(
    r"warning: " + _PF_CLIENT + r": SASL ([A-Za-z0-9_-]{1,40}) authentication failed: *"
)
# the summary: only "name=N" or "name=N/M" counters follow the client field
PF_DISCONNECT_RE = re.compile(r"disconnect from " + _PF_CLIENT + r"((?:" + _PF_COUNTER + r"){1,40})$")
PF_TOO_MANY_RE = re.compile(r"too many errors after AUTH from " + _PF_CLIENT + r"$")
PF_SUCCESS_RE = re.compile(
    r"[0-9A-Za-z]{1,32}: client="
    + _PF_CLIENT
    + r", (?:orig_client=[^\s,]{0,300}, )?"
    + re.escape(GATE_SASL_LOGIN)
    + r"([^\s,]{0,40}), sasl_username="
)
# auth=1 (all succeeded) or auth=0/3 (succeeded/attempted) in the disconnect summary
PF_AUTH_COUNT_RE = re.compile(r" auth=(\d{1,6})(?:/(\d{1,6}))?(?: |$)")
# a summary's recipients counter: accepted (or accepted/attempted); the first number 0 means none accepted
PF_RCPT = " rcpt="
PF_RCPT_NONE = " rcpt=0"
PF_SASL_USER_SEP = ", sasl_username="
PF_LOST_AUTH_SERVER = "Connection lost to authentication server"
PF_BAD_MECH = "Invalid authentication mechanism"

# --- Dovecot ------------------------------------------------------------------------------------------------
DC_LOGIN_PREFIXES = ("imap-login: ", "pop3-login: ", "submission-login: ", "managesieve-login: ")
DC_LEVEL_PREFIXES = ("Info: ", "Warning: ", "Error: ", "Debug: ")
# "(auth failed, 3 attempts in 12 secs)" inside the dovecot-written reason, before the field list
# groups: the attempts, the seconds
DC_AUTH_FAILED_RE = re.compile(r"\(auth failed, (\d{1,6}) attempts?(?: in (\d{1,9}) secs?)?\)")
DC_PROXY_FAILED = "(proxy dest auth failed)"
# a cleartext login refused before any password check; Dovecot 2.4 names the attempts after it ("(tried to
# use disallowed cleartext auth, 1 attempts in 0 secs) (cleartext_auth_disabled)"): the reasons' starts
DC_PLAINTEXT_REFUSED = (
    "(tried to use disabled plaintext auth)",
    "(tried to use disallowed plaintext auth)",
    "(tried to use disallowed cleartext auth, ",
)
# The usual failure summary of a login process, whole (a fast path: lines._dovecot and lines._login read
# every other line the general way): not a login ("Login: " or 2.4's "Logged in: " after the level),
# Dovecot's words (letters, spaces and colons: no parenthesis), "(auth failed, N attempts in S secs):
# user=<U>, method=M, rip=R, lip=L[, TLS|, secured], session=<S>" with U printable ASCII but ",", "<" and ">",
# every other field in its own alphabet, and nothing after the session. On such a line each search of the
# general reading stops at the field this pattern names, so both read the same
# (tests/unit/parser/test_parser_fastpaths.py pins it).
# Groups: attempts, seconds, user, rip, session (after the protocol in DC_LOGIN_FAILED_USUAL_RE).
_DC_USUAL_FAILURE = (
    r"(?!(?:(?:" + "|".join(p[:-2] for p in DC_LEVEL_PREFIXES) + r"): )?(?:Login|Logged in): )"
    r"[A-Za-z: ]{0,80}\(auth failed, ([0-9]{1,6}) attempts?(?: in ([0-9]{1,9}) secs?)?\): "
    r"user=<([ -+\--;=?-~]{0,512})>, method=[A-Za-z0-9-]{1,40}, rip=([0-9A-Fa-f.:]{1,45}), "
    r"lip=[0-9A-Fa-f.:]{1,45}(?:, TLS|, secured)?, session=<([A-Za-z0-9+/=]{1,64})>"
)
# the message after the login process's prefix ("imap-login: " as the syslog program: lines._login)
DC_FAILED_USUAL_RE = re.compile(_DC_USUAL_FAILURE)
# the message of program "dovecot" (lines._dovecot), the prefix's protocol its first group
DC_LOGIN_FAILED_USUAL_RE = re.compile(
    r"(?:dovecot: )?(" + "|".join(p[:-8] for p in DC_LOGIN_PREFIXES) + r")-login: " + _DC_USUAL_FAILURE
)
# auth process line prefix up to "driver(": "auth: ", "auth-worker(304): ", "Info: ",
# "conn unix:auth-worker (pid=27359,uid=97): auth-worker<55>: " in any of the forms Dovecot 2.2-2.4 log.
# Only the Info and Debug levels: Dovecot logs passdb failures at Info (Debug with auth_debug), and the
# text after a newline in a client's password (auth_verbose_passwords; SASL PLAIN passwords may hold one)
# reaches the log process as a raw line, which it writes at the Error level ("auth: Error: <text>"):
# the client's own words, never a failure line.
_DC_AUTH_PREFIX = (
    r"(?:auth(?:-worker)?(?:\([^()\s]{0,40}\))?: )?(?:(?:Info|Debug): )?"
    r"(?:conn [^\s()]{1,80} \([^()\s]{0,80}\): auth(?:-worker)?<\d{1,10}>: )?(?:(?:Info|Debug): )?"
)
# passdb drivers ("passwd-file" before its prefix "passwd": the regex alternation tries them in order)
DC_AUTH_DRIVERS = ("passwd-file", "passwd", "shadow", "pam", "sql", "ldap", "checkpassword", "bsdauth",
                   "vpopmail", "lua", "oauth2", "imap", "static")  # fmt: skip
DC_AUTH_PROCESS_RE = re.compile(_DC_AUTH_PREFIX + "(" + "|".join(DC_AUTH_DRIVERS) + r")\(")
# what may stand before pam_unix's message: the same Dovecot-written prefix, nothing an attacker wrote (a
# username holding the pam_unix words must not turn a passdb line into a pam_unix one)
DC_AUTH_PREFIX_RE = re.compile(_DC_AUTH_PREFIX)
# the failure messages of the auth process: the fixed ones end the line; after the others comes more text
DC_AUTH_MESSAGE_FIXED = ("unknown user", "Unknown user", "Password mismatch", "invalid credentials",
                         "Invalid credentials")  # fmt: skip
DC_AUTH_MESSAGE_VARIABLE = ("pam_authenticate() failed: ", "Password mismatch (", "unknown user (",
                            "invalid credentials (")  # fmt: skip
# the messages after which the client's password follows (``auth_verbose_passwords``): attacker text, so a
# line with one of them may read in two ways (see ``lines._auth_process``); after the others, server text
DC_AUTH_MESSAGE_PASSWORD = ("Password mismatch (", "unknown user (", "invalid credentials (")
# up to Dovecot 2.3 the message follows the prefix "driver(user,ip[,<session>])" directly: these tails end
# such a line ("): Password mismatch")
DC_AUTH_TAIL_FIXED = tuple("): " + message for message in DC_AUTH_MESSAGE_FIXED)
DC_AUTH_TAIL_VARIABLE = tuple("): " + message for message in DC_AUTH_MESSAGE_VARIABLE)
DC_AUTH_TAIL_PASSWORD = tuple("): " + message for message in DC_AUTH_MESSAGE_PASSWORD)
DC_SESSION_RE = re.compile(r"<[A-Za-z0-9+/=]{1,64}>")
# the fields after the username in Dovecot's auth log prefix "driver(USER,IP[,master][,<SESSION>]): "
# (get_log_prefix in src/auth/auth-request.c), up to the prefix's closing parenthesis
DC_AUTH_FIELDS_RE = re.compile(r"([0-9A-Fa-f:.]{1,45})(?:,master)?(?:,(<[A-Za-z0-9+/=]{1,64}>))?,?(?=\): )")
# Dovecot 2.4 (Debian 13) names the passdb after the prefix: "auth(USER,IP[,sasl:MECH][,master])[<SESSION>]: "
# or, from an auth worker, "auth-worker(USER,IP[,master])<PID>[<SESSION>]: request [N]: ", then (Dovecot's own
# log file only) the level, then "PASSDB: " and the message (get_log_prefix and auth_request_get_log_prefix_db
# in src/auth/auth-request.c). These are its fields after the username, up to the passdb's name; groups: the
# address, the session; then (DC24_AUTH_PASSDB_RE) the passdb's name (its driver, or the name the admin gave
# the passdb block). Every line of an auth request has the prefix, failure or not (debug lines, "anonymous
# login"): lines._auth_request compares the address of every prefix a comma may start, not only of those a
# failure message follows
DC24_AUTH_PREFIXES = ("auth(", "auth-worker(")
# The same summary with the syslog header before it, read whole (lines.locate_all's fast path, the line of an
# attack on IMAP or POP3): a host (ASCII, never ending with ":"; not Dovecot's own "auth(" prefix, see
# lines._parse_header), program "dovecot" with DC_LOGIN_FAILED_USUAL_RE's message, or a login process as the
# program with the summary. Its header is one HEADER_RE reads the same way, so both read the same
# (tests/unit/parser/test_parser_fastpaths.py pins it). Groups: host, the protocol in either form (one of
# two groups), then those of _DC_USUAL_FAILURE.
_DC_LOGIN_NAMES = "|".join(p[: -len("-login: ")] for p in DC_LOGIN_PREFIXES)
DC_USUAL_LINE_RE = re.compile(
    r"(?!" + "|".join(re.escape(p) for p in DC24_AUTH_PREFIXES) + r")([!-~]{0,254}[!-9;-~]) "
    r"(?:dovecot(?:\[[0-9]{1,10}\])?: (?:dovecot: )?(" + _DC_LOGIN_NAMES + r")-login"
    r"|(" + _DC_LOGIN_NAMES + r")-login(?:\[[0-9]{1,10}\])?): " + _DC_USUAL_FAILURE
)
DC24_AUTH_FIELDS_RE = re.compile(
    r"([0-9A-Fa-f:.]{1,45})(?:,sasl:[a-z0-9_-]{1,40})?(?:,master)?\)(?:<\d{1,10}>)?(?:<([A-Za-z0-9+/=]{1,64})>)?"
    r"(?:: request \[\d{1,10}\])?: "
)
# (a level word is no passdb: failures are read at the Info and Debug levels only, see _DC_AUTH_PREFIX)
DC24_AUTH_PASSDB_RE = re.compile(
    r"(?:(?:Info|Debug): )?(?!(?:Error|Warning|Fatal|Panic): )([A-Za-z0-9_.-]{1,64}): "
)
# Dovecot writes at most 64 bytes of a username into that prefix (MAX_LOG_USERNAME_LEN), then "..." (or
# "\u2026"): the comma before the address is within this many characters of the "(" (never further)
DC_LOG_USER_MAX = 67
PAM_UNIX_FAILURE = "pam_unix(dovecot:auth): authentication failure; "
PAM_RUSER = " tty=dovecot ruser="

# --- Plesk --------------------------------------------------------------------------------------------------
PLESK_PROGRAM = "plesk_saslauthd"
PLESK_FAILED = (  # Plesk's own typo first
    "failed mail authenticatication attempt for user '",
    "failed mail authentication attempt for user '",
)
PLESK_FAILED_TAIL = "' (password len="
PLESK_NO_USER = "No such user '"
PLESK_NO_USER_TAIL = "' in mail authorization database"
