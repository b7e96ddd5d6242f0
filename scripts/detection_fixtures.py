#!/usr/bin/env python3
"""Write the detection fixtures in queries/detections/fixtures/.

Every rule has cases that must fire and benign look-alikes that must stay silent, written as
the vendors log them: Okta System Log events (the documented LogEvent object: actor, client
with geographicalContext, securityContext, outcome, target, debugContext.debugData.factor —
https://developer.okta.com/docs/reference/api/system-log/), AWS VPC flow log lines (version 2
default format — https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html) and
nginx combined access log lines. `cases.json` lists each case, what it shows and the alerts it
must raise (cross effects included: a sign-in from another continent is also a new country);
`ztlens.toml` is the site and detection settings the cases assume. `tests/detection_fixtures.rs`
ingests the three files into one lake, backtests every rule over the case day and compares the
alerts with the union of the expectations: each exactly once, nothing else.

Edit this file, run `python3 scripts/detection_fixtures.py`, and commit both.
"""

import json
import pathlib
from datetime import datetime, timedelta, timezone

OUT = pathlib.Path(__file__).resolve().parent.parent / "queries" / "detections" / "fixtures"
DAY = datetime(2026, 5, 4, tzinfo=timezone.utc)  # a Monday
HISTORY = DAY - timedelta(days=1)

PLACES = {
    "berlin": ("Germany", "Berlin", 52.52, 13.405, 3320, "deutsche telekom ag"),
    "singapore": ("Singapore", "Singapore", 1.3521, 103.8198, 4773, "singtel"),
    "new_york": ("United States", "New York", 40.7128, -74.006, 7922, "comcast cable communications"),
    "prague": ("Czechia", "Prague", 50.0755, 14.4378, 5610, "o2 czech republic"),
    "vpn": ("United States", "New York", 40.7128, -74.006, 64500, "corp vpn"),
    "lagos": ("Nigeria", "Lagos", 6.4541, 3.3947, 37148, "globacom"),
}

okta_lines, vpc_lines, nginx_lines, cases = [], [], [], []
counter = [0]


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def okta(t, event_type, user, ip, place, result="SUCCESS", reason=None, app=None, factor=None,
         managed=True, session="s"):
    """One Okta LogEvent."""
    counter[0] += 1
    country, city, lat, lon, asn, org = PLACES[place]
    event = {
        "uuid": f"fx{counter[0]:06d}-0000-4000-8000-000000000000",
        "published": ts(t),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO" if result == "SUCCESS" else "WARN",
        "displayMessage": event_type,
        "actor": {"id": f"00u{user.replace('.', '')[:12]}", "type": "User",
                  "alternateId": f"{user}@corp.example", "displayName": user},
        "client": {"ipAddress": ip, "device": "Computer",
                   "geographicalContext": {"country": country, "city": city,
                                           "geolocation": {"lat": lat, "lon": lon}}},
        "securityContext": {"asNumber": asn, "asOrg": org, "isp": org, "isProxy": False},
        "device": {"id": f"guo{user.replace('.', '')[:12]}", "name": f"LT-{user}", "managed": managed,
                   "registered": True, "os_platform": "MACOS"},
        "authenticationContext": {"externalSessionId": f"102{session}{user.replace('.', '')}"},
        "outcome": {"result": result, "reason": reason},
        "debugContext": {"debugData": {"requestUri": "/idp/idx/identify"}},
        "target": None,
    }
    if factor:
        event["debugContext"]["debugData"]["factor"] = factor
    if app:
        event["target"] = [{"id": f"0oa{app.replace(' ', '')[:12]}", "type": "AppInstance",
                            "alternateId": app, "displayName": app}]
    okta_lines.append(json.dumps(event, separators=(",", ":")))


def sign_in(t, user, ip, place, app="Wiki", managed=True):
    """A successful sign-in: session start, then single sign-on to `app`."""
    okta(t, "user.session.start", user, ip, place, managed=managed)
    okta(t + timedelta(seconds=5), "user.authentication.sso", user, ip, place, app=app, managed=managed)


def history(user, ip, place, n=6):
    """`n` ordinary sign-ins the day before the case day: the identity's usual place."""
    for i in range(n):
        sign_in(HISTORY + timedelta(hours=8 + i, minutes=7), user, ip, place)


def case(rule, name, kind, description, expect=()):
    cases.append({"rule": rule, "case": name, "kind": kind, "description": description,
                  "expect": [{"rule": r, "entity": e} for r, e in expect]})


def at(hour, minute=0, second=0):
    return DAY + timedelta(hours=hour, minutes=minute, seconds=second)


# impossible_travel -------------------------------------------------------------------------
history("it.fires", "84.160.10.1", "berlin")
sign_in(at(9), "it.fires", "84.160.10.1", "berlin")
sign_in(at(9, 20), "it.fires", "116.86.10.1", "singapore")
case("impossible_travel", "berlin_then_singapore_in_20_minutes", "fires",
     "Berlin, then Singapore 20 minutes later (9,900 km): credentials used elsewhere; the same "
     "sign-in is the identity's first from Singapore and from its provider.",
     [("impossible_travel", {"identity": "it.fires"}),
      ("new_country_for_identity", {"identity": "it.fires", "novelty": "country:SG"}),
      ("new_country_for_identity", {"identity": "it.fires", "novelty": "asn:4773"})])

history("it.vpn", "84.160.10.2", "berlin")
sign_in(at(10), "it.vpn", "84.160.10.2", "berlin")
sign_in(at(10, 15), "it.vpn", "198.51.100.50", "vpn")
case("impossible_travel", "vpn_hop", "silent",
     "Berlin, then 15 minutes later through the corporate VPN's New York egress (on allow_cidrs): "
     "neither travel nor a new country.")

history("it.flight", "84.160.10.3", "berlin", n=3)
history("it.flight", "73.12.10.3", "new_york", n=3)
sign_in(at(6), "it.flight", "84.160.10.3", "berlin")
sign_in(at(15, 10), "it.flight", "73.12.10.3", "new_york")
case("impossible_travel", "long_haul_flight", "silent",
     "Berlin, then New York 9 h 10 min later: 6,385 km at 696 km/h, a flight. The traveller "
     "knows both places, so nothing is new either.")

# mfa_push_bombing ----------------------------------------------------------------------------
okta(at(2), "user.session.start", "mfa.fires", "84.160.11.1", "berlin")
for i in range(5):
    okta(at(2, 1, i * 20), "user.mfa.okta_verify.deny_push", "mfa.fires", "84.160.11.1", "berlin",
         result="FAILURE", reason="User rejected Okta push verify")
okta(at(2, 4), "user.authentication.auth_via_mfa", "mfa.fires", "84.160.11.1", "berlin",
     factor="OKTA_VERIFY_PUSH")
case("mfa_push_bombing", "five_refusals_then_approval", "fires",
     "Five push prompts refused in three minutes, then one approved (critical).",
     [("mfa_push_bombing", {"identity": "mfa.fires"})])

okta(at(3), "user.session.start", "mfa.quiet", "84.160.11.2", "berlin")
for i in range(3):
    okta(at(3, 1, i * 30), "user.mfa.okta_verify.deny_push", "mfa.quiet", "84.160.11.2", "berlin",
         result="FAILURE", reason="User rejected Okta push verify")
case("mfa_push_bombing", "three_refusals", "silent",
     "A person refuses three prompts they did not expect: below the threshold of four.")

# password_spray ------------------------------------------------------------------------------
for i in range(9):
    okta(at(4, 0, i * 15), "user.session.start", f"spray.victim{i}", "102.89.20.1", "lagos",
         result="FAILURE", reason="INVALID_CREDENTIALS")
case("password_spray", "nine_identities_once_each", "fires",
     "One address fails the password of nine identities, once each, in two minutes.",
     [("password_spray", {"src_ip": "102.89.20.1"})])

for i in range(5):
    okta(at(4, 30, i * 20), "user.session.start", f"nat.user{i}", "84.160.12.1", "berlin",
         result="FAILURE", reason="INVALID_CREDENTIALS")
case("password_spray", "office_nat_typos", "silent",
     "Five people behind one office address mistype their passwords: below eight identities.")

# brute_force_then_success --------------------------------------------------------------------
for i in range(6):
    okta(at(5, 0, i * 10), "user.session.start", "bf.fires", "84.160.13.1", "berlin",
         result="FAILURE", reason="INVALID_CREDENTIALS")
sign_in(at(5, 2), "bf.fires", "84.160.13.1", "berlin")
case("brute_force_then_success", "six_failures_then_success", "fires",
     "Six failed passwords in a minute, then a successful sign-in: the password was guessed.",
     [("brute_force_then_success", {"identity": "bf.fires"})])

for i in range(6):
    okta(at(5, 30, i * 10), "user.session.start", "bf.locked", "84.160.13.2", "berlin",
         result="FAILURE", reason="INVALID_CREDENTIALS")
case("brute_force_then_success", "six_failures_no_success", "silent",
     "Six failed passwords and no success: an attempt, not a compromise.")

for i in range(3):
    okta(at(6, 30, i * 20), "user.session.start", "bf.forgot", "84.160.13.3", "berlin",
         result="FAILURE", reason="INVALID_CREDENTIALS")
sign_in(at(6, 32), "bf.forgot", "84.160.13.3", "berlin")
case("brute_force_then_success", "forgot_password", "silent",
     "Three failed passwords, then the right one: an ordinary Monday morning.")

# sensitive_app_unmanaged_device --------------------------------------------------------------
sign_in(at(11), "dev.unmanaged", "84.160.14.1", "berlin", app="Workday", managed=False)
case("sensitive_app_unmanaged_device", "unmanaged_laptop_into_payroll", "fires",
     "Workday (payroll, sensitivity high) admitted a laptop Okta reports as unmanaged.",
     [("sensitive_app_unmanaged_device", {"identity": "dev.unmanaged", "app": "payroll"})])

sign_in(at(11, 30), "dev.managed", "84.160.14.2", "berlin", app="Workday", managed=True)
sign_in(at(11, 40), "dev.wiki", "84.160.14.3", "berlin", app="Wiki", managed=False)
case("sensitive_app_unmanaged_device", "managed_laptop_or_plain_app", "silent",
     "A managed laptop into Workday, and an unmanaged one into the wiki (not sensitive).")

# privileged_off_hours (Europe/Berlin, 07-19, Monday to Friday) -------------------------------
sign_in(at(1, 30), "admin.night", "84.160.15.1", "berlin", app="AWS Console")
case("privileged_off_hours", "console_at_half_past_three", "fires",
     "The AWS console at 03:30 in Berlin on a Monday.",
     [("privileged_off_hours", {"identity": "admin.night", "app": "AWS Console"})])

sign_in(at(10), "admin.day", "84.160.15.2", "berlin", app="AWS Console")
sign_in(at(17, 30), "admin.evening", "84.160.15.3", "berlin", app="Wiki")
case("privileged_off_hours", "console_at_noon", "silent",
     "The AWS console at noon in Berlin, and the wiki (not privileged) at 19:30.")

# new_country_for_identity --------------------------------------------------------------------
history("nc.fires", "84.160.16.1", "berlin")
sign_in(at(12), "nc.fires", "90.176.16.1", "prague")
case("new_country_for_identity", "first_visit_to_prague", "fires",
     "An identity that always signs in from Berlin signs in from Prague (280 km: not travel).",
     [("new_country_for_identity", {"identity": "nc.fires", "novelty": "country:CZ"}),
      ("new_country_for_identity", {"identity": "nc.fires", "novelty": "asn:5610"})])

history("nc.vpn", "84.160.16.2", "berlin")
sign_in(at(12, 30), "nc.vpn", "198.51.100.60", "vpn")
case("new_country_for_identity", "first_visit_through_the_vpn", "silent",
     "A first sign-in from the United States, through the corporate VPN (on allow_cidrs).")

sign_in(at(13), "nc.newbie", "90.176.16.3", "prague")
case("new_country_for_identity", "new_identity", "silent",
     "An identity with no history signs in from Prague: it has no usual place yet.")

# service_account_anomaly ---------------------------------------------------------------------
for i in range(4):
    okta(HISTORY + timedelta(hours=9 + i), "user.authentication.sso", "svc-fixture", "10.20.0.5",
         "berlin", app="AWS Console")
    okta(HISTORY + timedelta(hours=9 + i, minutes=1), "user.authentication.sso", "svc-steady",
         "10.20.0.6", "berlin", app="AWS Console")
okta(at(14), "user.authentication.sso", "svc-fixture", "84.160.99.9", "berlin", app="AWS Console")
okta(at(14), "user.authentication.sso", "svc-steady", "10.20.0.6", "berlin", app="AWS Console")
case("service_account_anomaly", "token_used_from_a_home_network", "fires",
     "A deploy account that always signs in from 10.20.0.0/24 signs in from a home connection.",
     [("service_account_anomaly", {"account": "svc-fixture", "reason": "new_network"})])
case("service_account_anomaly", "token_used_where_it_runs", "silent",
     "Another service account signs in from the network it always uses.")

# lateral_scan (VPC flow logs, version 2) -----------------------------------------------------


def flow(t, src, dst, port, action):
    start = int(t.timestamp())
    vpc_lines.append(f"2 210987654321 eni-0fx{len(vpc_lines):05d} {src} {dst} 49152 {port} 6 3 180 "
                     f"{start} {start + 10} {action} OK")


for i in range(6):
    flow(at(15, 0, i * 30), "10.10.0.99", f"10.20.1.{10 + i}", 22, "REJECT")
case("lateral_scan", "six_hosts_on_ssh", "fires",
     "A corp laptop tries SSH on six production hosts in three minutes, all refused.",
     [("lateral_scan", {"src_ip": "10.10.0.99"})])

for i in range(4):
    flow(at(15, 30, i * 30), "10.10.0.98", f"10.20.1.{20 + i}", 22, "ACCEPT")
case("lateral_scan", "admin_on_four_hosts", "silent",
     "An administrator opens SSH to four hosts: below five destinations.")

# access_volume_spike (nginx combined; thresholds lowered in ztlens.toml for a small fixture) --


def request(t, path, n):
    """`n` requests to `path` spread over the hour starting at `t`."""
    for i in range(n):
        when = t + timedelta(seconds=i * 3600 // n)
        stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
        nginx_lines.append(f'198.51.100.{10 + i % 50} - - [{stamp}] "GET {path}/item/{i} HTTP/1.1" '
                           f'200 512 "-" "Mozilla/5.0"')


for day in range(3, 0, -1):
    for hour in range(8, 18):
        start = DAY - timedelta(days=day) + timedelta(hours=hour)
        request(start, "/portal", 20)
        request(start, "/exports", 20)
request(at(9), "/portal", 30)
request(at(11), "/exports", 150)
case("access_volume_spike", "export_spike", "fires",
     "The exports app serves 150 requests in an hour where it serves 20 in a working hour.",
     [("access_volume_spike", {"kind": "app", "name": "exports"})])
case("access_volume_spike", "busy_monday", "silent",
     "The portal serves 30 requests in a busy Monday hour, 20 usually: not a spike.")

OUT.mkdir(parents=True, exist_ok=True)
(OUT / "okta.ndjson").write_text("\n".join(okta_lines) + "\n")
(OUT / "vpcflow.log").write_text("\n".join(vpc_lines) + "\n")
(OUT / "nginx.log").write_text("\n".join(nginx_lines) + "\n")
(OUT / "cases.json").write_text(json.dumps({
    "from": ts(DAY), "to": ts(DAY + timedelta(days=1)), "cases": cases}, indent=2) + "\n")
print(f"wrote {len(cases)} cases: {len(okta_lines)} Okta events, {len(vpc_lines)} flows, "
      f"{len(nginx_lines)} requests")
