#!/usr/bin/env python3
"""Labelled PII sentences the detector has never seen: an honest unseen-text measurement.

    python3 scripts/pii_unseen.py [--n 4000] [--seed 16] [--out target/pii_unseen/unseen.json]
                                  [--locales en_GB,de_DE,...] [--no-eval] [--verbose]

Writes sentences in the JSON format of presidio-research's generator (the dev set's format:
`full_text`, `masked`, `spans` with `entity_type`, `entity_value`, `start_position`,
`end_position` in characters, `template_id`, `metadata`) and runs the existing evaluation on it
(`cargo run --release --example eval_pii -- FILE`; `--verbose` lists the misses and false
positives).

Values come from Faker (pinned below; installed on first use into `.venv-pii/`, git-ignored) in
42 locales, most of which the dev set barely has: each sentence draws a locale, then a template
written here in the style of presidio-research's templates (contact blocks with `-Office\\,`,
`office / fax / mobile` lines, addresses whose line breaks are real or written out as `\\n`,
`Tel:` glued to the number, phones in parentheses, extensions, SSNs with and without a context
word, area numbers outside the issued range). Every sentence also has a chance of carrying
numbers that are not phones (dates, times, amounts, order and invoice numbers, postcodes,
version strings, IBANs, cards, IP addresses): precision matters as much as recall. No dev-set
text is used. The output goes under target/ (git-ignored); the same seed gives the same file.
"""

import argparse
import json
import os
import random
import subprocess
import sys

FAKER_VERSION = "40.54.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-pii")

LOCALES = (
    "en_US en_GB en_AU en_IN en_CA en_NZ de_DE de_AT de_CH fr_FR fr_CH nl_NL nl_BE it_IT es_ES "
    "es_MX es_CO es_AR pt_BR pt_PT pl_PL sv_SE no_NO da_DK fi_FI cs_CZ sk_SK hu_HU ro_RO bg_BG "
    "hr_HR el_GR tr_TR ru_RU uk_UA ja_JP ko_KR zh_TW he_IL th_TH id_ID vi_VN"
).split()


def ensure_faker():
    """Import the pinned Faker, installing it into .venv-pii and re-running there if needed."""
    try:
        import faker  # noqa: F401

        if faker.VERSION == FAKER_VERSION:
            return
    except ImportError:
        pass
    py = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py):
        sys.exit("faker %s could not be imported from %s" % (FAKER_VERSION, VENV))
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q", "faker==" + FAKER_VERSION])
    os.execv(py, [py] + sys.argv)


# ------------------------------------------------------------------ templates
# {{TYPE}} is a labelled value, {{_name}} an unlabelled filler (a number that is not PII).
# The labelled types the evaluation scores: PHONE_NUMBER, US_SSN, EMAIL_ADDRESS, IBAN_CODE,
# CREDIT_CARD, IP_ADDRESS; PERSON, STREET_ADDRESS, DATE_TIME are labelled like presidio does but
# not scored.

PHONE_TEMPLATES = [
    "Please call me at {{PHONE_NUMBER}}.",
    "You can reach {{PERSON}} on {{PHONE_NUMBER}} or at {{EMAIL_ADDRESS}}",
    "My new number is {{PHONE_NUMBER}}, the old one no longer works",
    "Tel:{{PHONE_NUMBER}}",
    "Tel.: {{PHONE_NUMBER}} / Fax: {{PHONE_NUMBER}}",
    "T: {{PHONE_NUMBER}}\nE: {{EMAIL_ADDRESS}}",
    "Ph. {{PHONE_NUMBER}}",
    "Call the front desk ({{PHONE_NUMBER}}) before noon.",
    "{{PERSON}} (tel. {{PHONE_NUMBER}}) will confirm the booking.",
    "I never got the text on {{PHONE_NUMBER}}; can you resend it?",
    "Why do I keep getting calls from {{PHONE_NUMBER}}?",
    "Is {{PHONE_NUMBER}} still the right number for {{PERSON}}?",
    "Text {{PHONE_NUMBER}} when you arrive",
    "{{PERSON}}\n{{STREET_ADDRESS}}\n{{PHONE_NUMBER}}-Office\\,{{PHONE_NUMBER}}-Fax",
    "{{PERSON}}\\n{{STREET_ADDRESS_ESC}}\\n{{PHONE_NUMBER}}-Office\\,{{PHONE_NUMBER}}-Fax",
    "{{STREET_ADDRESS_ESC}}\\n{{PHONE_NUMBER}}-Office",
    "{{STREET_ADDRESS}}\n{{PHONE_NUMBER}} office\n{{PHONE_NUMBER}} fax\n{{PHONE_NUMBER}} mobile",
    "{{STREET_ADDRESS_ESC}}\\n{{PHONE_NUMBER}} office\\n{{PHONE_NUMBER}} mobile",
    "{{PERSON}}\n{{STREET_ADDRESS}}\nMobile: {{PHONE_NUMBER}}\nDesk: {{PHONE_NUMBER}}\nFax: {{PHONE_NUMBER}}",
    "Ticket opened {{DATE_TIME}}\nName: {{PERSON}}\nPhone: {{PHONE_NUMBER}}",
    "{{PERSON}}\n\nAccountant\n\nContact:\nPhone:\n{{PHONE_NUMBER}}\n\nE-mail:\n{{EMAIL_ADDRESS}}",
    "Name: {{PERSON}}\\nPhone: {{PHONE_NUMBER}}\\nEmail: {{EMAIL_ADDRESS}}",
    "Contact {{PERSON}} - {{PHONE_NUMBER}} - {{EMAIL_ADDRESS}}",
    "Mobile {{PHONE_NUMBER}} | Office {{PHONE_NUMBER}}",
    "If the line is busy try {{PHONE_NUMBER}} instead.",
    "The courier will ring {{PHONE_NUMBER}} on {{DATE_TIME}}",
    "{{PHONE_NUMBER}} is my work number",
    "Stop sending messages to {{PHONE_NUMBER}}",
    "Emergency contact: {{PERSON}}, {{PHONE_NUMBER}}",
    "whatsapp me: {{PHONE_NUMBER}}",
]

SSN_TEMPLATES = [
    "Here's my SSN: {{US_SSN_ANY}}",
    "His social security number is {{US_SSN_ANY}}",
    "her social security no. is {{US_SSN_ANY}}",
    "SSN {{US_SSN_ANY}} belongs to {{PERSON}}",
    "Please verify SSN#{{US_SSN_ANY}} for the loan",
    "Social Security Number: {{US_SSN_ANY}}\nDOB: {{_date}}",
    "Name: {{PERSON}}\\nSSN: {{US_SSN_ANY}}",
    "my ssn is {{US_SSN_ANY}} and my phone is {{PHONE_NUMBER}}",
    "The form asks for the social security number ({{US_SSN_ANY}}) twice.",
    "I typed {{US_SSN}} into the tax form by mistake",
    "Employee {{PERSON}}, {{US_SSN}}, started on {{_date}}",
]

DISTRACTOR_TEMPLATES = [
    "Your order #{{_order}} was shipped on {{_date}}.",
    "Order number {{_order}} will arrive between {{_time}} and {{_time}}.",
    "Invoice {{_invoice}} of {{_date}}: total {{_amount}}",
    "The meeting moved to {{_date}} at {{_time}}.",
    "Ticket {{_order}} was closed on {{_datetime}}",
    "We raised {{_amount}} in {{_year}}, up from {{_amount}} in {{_year}}.",
    "Please upgrade to version {{_version}} before {{_date}}.",
    "Release {{_version}} (build {{_build}}) fixes the login bug.",
    "The office is at {{STREET_ADDRESS}}.",
    "Send the parcel to {{STREET_ADDRESS_ESC}} by {{_date}}",
    "postcode {{_postcode}}, {{_city}}",
    "My IBAN is {{IBAN_CODE}}, please transfer {{_amount}}",
    "Account holder {{PERSON}}\nIBAN {{IBAN_CODE}}",
    "Pay with card {{CREDIT_CARD}} exp {{_expiry}}",
    "The card number {{CREDIT_CARD}} was declined on {{_date}}",
    "Server {{IP_ADDRESS}} stopped answering at {{_time}}",
    "Blocked login from {{IP_ADDRESS}} on {{_datetime}}",
    "Between {{_year}}-{{_year}} we shipped {{_count}} units.",
    "Reference {{_invoice}}, amount {{_amount}}, due {{_date}}",
    "Tracking: {{_tracking}}",
    "Room {{_room}}, floor {{_floor}}, badge {{_badge}}",
    "Coordinates {{_coord}}, elevation {{_count}} m",
    "ISBN {{_isbn}}",
    "Flight {{_flight}} departs {{_datetime}}",
    "The score was {{_score}} after {{_count}} games.",
    "My account number is {{_bban}} at {{_bank}}",
    "Contact {{PERSON}} at {{EMAIL_ADDRESS}} about the {{_date}} workshop",
]


def slot(name, f, r, loc):
    """The text of one placeholder; `loc` is the locale's Faker."""
    if name == "PHONE_NUMBER":
        p = loc.phone_number()
        x = r.random()
        if x < 0.10 and "x" not in p:
            p += r.choice([" x", "x", " ext. ", " ext.", " ext ", " EXT", " Ext. "]) + str(r.randint(1, 99999))
        return p
    if name in ("US_SSN", "US_SSN_ANY"):
        if name == "US_SSN":
            return f["en_US"].ssn()
        x = r.random()
        if x < 0.35:
            area = r.choice([r.randint(900, 999), 666, 0, r.randint(900, 999)])
        else:
            area = r.randint(1, 899)
        s = "%03d-%02d-%04d" % (area, r.randint(1, 99), r.randint(1, 9999))
        y = r.random()
        if y < 0.10:
            s = s.replace("-", " ")
        elif y < 0.15:
            s = s.replace("-", "")
        return s
    if name == "EMAIL_ADDRESS":
        return loc.email() if r.random() < 0.5 else f["en_US"].free_email()
    if name == "PERSON":
        return loc.name()
    if name in ("STREET_ADDRESS", "STREET_ADDRESS_ESC"):
        a = loc.address()
        return a.replace("\n", "\\n") if name.endswith("ESC") else a
    if name == "DATE_TIME":
        return loc.date_time().strftime(r.choice(["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%B %d, %Y"]))
    if name == "IBAN_CODE":
        ib = loc.iban() if hasattr(loc, "iban") else f["de_DE"].iban()
        if r.random() < 0.4:
            ib = " ".join(ib[k : k + 4] for k in range(0, len(ib), 4))
        return ib
    if name == "CREDIT_CARD":
        c = loc.credit_card_number()
        if r.random() < 0.4 and len(c) == 16:
            sep = r.choice([" ", "-"])
            c = sep.join(c[k : k + 4] for k in range(0, 16, 4))
        return c
    if name == "IP_ADDRESS":
        return loc.ipv4() if r.random() < 0.8 else loc.ipv6()
    # Unlabelled fillers: numbers that are not PII.
    if name == "_date":
        return loc.date_object().strftime(
            r.choice(["%d.%m.%Y", "%m/%d/%Y", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%y", "%B %d, %Y"])
        )
    if name == "_datetime":
        return loc.date_time().strftime(r.choice(["%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M", "%m/%d/%Y %I:%M %p"]))
    if name == "_time":
        return loc.time(r.choice(["%H:%M", "%H:%M:%S", "%I:%M %p"]))
    if name == "_year":
        return str(r.randint(1990, 2030))
    if name == "_order":
        return r.choice([str(r.randint(10**6, 10**11)), "%d-%07d" % (r.randint(100, 999), r.randint(0, 10**7 - 1)), loc.bothify("??-########").upper()])
    if name == "_invoice":
        return r.choice(["%d/%05d" % (r.randint(2015, 2030), r.randint(1, 99999)), "INV-%08d" % r.randint(0, 10**8 - 1), str(r.randint(10**7, 10**10))])
    if name == "_amount":
        v = r.uniform(1, 10**7)
        return r.choice(["$%s" % format(v, ",.2f"), "%s EUR" % format(v, ",.2f").replace(",", "X").replace(".", ",").replace("X", "."), "£%d" % v, "%s zł" % format(v, ",.2f").replace(",", " ")])
    if name == "_version":
        return ".".join(str(r.randint(0, 20)) for _ in range(r.choice([2, 3, 4])))
    if name == "_build":
        return str(r.randint(1000, 99999999))
    if name == "_postcode":
        return loc.postcode()
    if name == "_city":
        return loc.city()
    if name == "_expiry":
        return loc.credit_card_expire()
    if name == "_count":
        return format(r.randint(1, 10**7), ",")
    if name == "_tracking":
        return r.choice(["1Z %s" % loc.bothify("### ??# ## #### ###").upper(), loc.numerify("#### #### #### #### ####"), loc.numerify("JJD##############")])
    if name == "_room":
        return str(r.randint(1, 999))
    if name == "_floor":
        return str(r.randint(1, 40))
    if name == "_badge":
        return str(r.randint(10**5, 10**7))
    if name == "_coord":
        return "%s, %s" % (loc.latitude(), loc.longitude())
    if name == "_isbn":
        return f["en_US"].isbn13() if r.random() < 0.5 else f["en_US"].isbn10()
    if name == "_flight":
        return loc.bothify("??####").upper()
    if name == "_score":
        return "%d-%d" % (r.randint(0, 9), r.randint(0, 9))
    if name == "_bban":
        return loc.bban() if hasattr(loc, "bban") else f["de_DE"].bban()
    if name == "_bank":
        return loc.company()
    raise KeyError(name)


LABEL = {
    "US_SSN_ANY": "US_SSN",
    "STREET_ADDRESS_ESC": "STREET_ADDRESS",
}


def render(template, f, r, loc):
    out, spans, masked, i = [], [], [], 0
    pos = 0
    while True:
        a = template.find("{{", i)
        if a < 0:
            out.append(template[i:])
            masked.append(template[i:])
            break
        b = template.index("}}", a)
        out.append(template[i:a])
        masked.append(template[i:a])
        pos = sum(len(x) for x in out)
        name = template[a + 2 : b]
        value = slot(name, f, r, loc)
        if not name.startswith("_"):
            label = LABEL.get(name, name)
            spans.append({"entity_type": label, "entity_value": value, "start_position": pos, "end_position": pos + len(value)})
            masked.append("{{%s}}" % label)
        else:
            masked.append(value)
        out.append(value)
        i = b + 2
    return "".join(out), "".join(masked), spans


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000, help="sentences (default 4000)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "pii_unseen", "unseen.json"))
    ap.add_argument("--locales", default=",".join(LOCALES))
    ap.add_argument("--no-eval", action="store_true", help="only write the file")
    ap.add_argument("--verbose", action="store_true", help="list misses and false positives")
    args = ap.parse_args()
    ensure_faker()
    from faker import Faker

    locales = args.locales.split(",")
    f = {}
    for k, l in enumerate(sorted(set(locales + ["en_US", "de_DE"]))):
        f[l] = Faker(l)
        f[l].seed_instance(args.seed * 1000 + k)
    r = random.Random(args.seed)
    groups = [(PHONE_TEMPLATES, 0.5), (SSN_TEMPLATES, 0.15), (DISTRACTOR_TEMPLATES, 0.35)]
    all_templates = [t for g, _ in groups for t in g]
    rows = []
    for _ in range(args.n):
        x, acc = r.random(), 0.0
        for g, w in groups:
            acc += w
            if x < acc:
                break
        t = r.choice(g)
        loc = f[r.choice(locales)]
        text, masked, spans = render(t, f, r, loc)
        if r.random() < 0.25:
            # A distractor sentence beside it, as text pasted from several places.
            t2 = r.choice(DISTRACTOR_TEMPLATES)
            text2, masked2, spans2 = render(t2, f, r, loc)
            sep = r.choice([" ", "\n", "\\n"])
            shift = len(text) + len(sep)
            for s in spans2:
                s["start_position"] += shift
                s["end_position"] += shift
            text, masked, spans = text + sep + text2, masked + sep + masked2, spans + spans2
        rows.append({"full_text": text, "masked": masked, "spans": spans, "template_id": all_templates.index(t), "metadata": {"locale": str(loc.locales[0])}})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(rows, fh, ensure_ascii=False, indent=1)
    counts = {}
    for row in rows:
        for s in row["spans"]:
            counts[s["entity_type"]] = counts.get(s["entity_type"], 0) + 1
    print("wrote %d sentences to %s (faker %s, seed %d, %d locales): %s" % (
        len(rows), args.out, FAKER_VERSION, args.seed, len(locales),
        ", ".join("%s %d" % kv for kv in sorted(counts.items()))), flush=True)
    if args.no_eval:
        return
    cmd = ["cargo", "run", "-q", "--release", "--example", "eval_pii", "--", args.out]
    if args.verbose:
        cmd.append("--verbose")
    sys.exit(subprocess.call(cmd, cwd=ROOT))


if __name__ == "__main__":
    main()
