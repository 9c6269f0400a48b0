"""Finding 9 of issue 14 for bank statements: an XML entity bomb or an external entity is refused
before parsing, a file above STATEMENT_MAX_UPLOAD_BYTES is a form error, and a body above
MAX_REQUEST_BODY_BYTES is a 413 before it is read. Nothing is stored on any refusal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as DjangoClient
from django.test import override_settings

from ops.roles import Role
from payments import errors
from payments.models import StatementImport, StatementLine
from payments.statements import StatementError, parse_statement
from tests.factories import staff
from tests.personas import sign_in

pytestmark = pytest.mark.django_db

CAMT053 = (Path(__file__).parent / "fixtures" / "statement.camt053.xml").read_bytes()
DTD_REFUSED = "XML with a DTD or entity declarations is not accepted"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Id>&lol9;</Id>
</Stmt></BkToCstmrStmt></Document>
"""
XXE = CAMT053.replace(
    b"<Document", b'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<Document', 1
).replace(b"</Id>", b"&xxe;</Id>", 1)


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE], ids=["billion laughs", "external entity"])
def test_bad_xml_with_a_dtd_is_refused_before_parsing(data: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(StatementError, match=DTD_REFUSED):
        parse_statement(data, filename="camt.xml")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE], ids=["billion laughs", "external entity"])
def test_bad_xml_bomb_through_the_page_stores_nothing(data: bytes, client: DjangoClient) -> None:
    sign_in(client, staff(Role.FINANCE))
    response = client.post("/payments/statements/", {"file": SimpleUploadedFile("camt.xml", data)})
    assert response.status_code == 400
    assert DTD_REFUSED in response.content.decode()
    assert not StatementImport.objects.exists() and not StatementLine.objects.exists()


def test_bad_statement_above_the_file_limit_is_a_form_error(client: DjangoClient) -> None:
    sign_in(client, staff(Role.FINANCE))
    with override_settings(STATEMENT_MAX_UPLOAD_BYTES=1024):
        response = client.post("/payments/statements/", {"file": SimpleUploadedFile("camt.xml", CAMT053)})
    assert response.status_code == 400
    message = errors.FILE_TOO_LARGE.format(size=len(CAMT053), limit=1024)
    assert response.context["form"].errors == {"file": [message]}
    assert not StatementImport.objects.exists()


def test_bad_body_above_the_request_limit_is_refused_before_it_is_read(client: DjangoClient) -> None:
    sign_in(client, staff(Role.FINANCE))
    with override_settings(MAX_REQUEST_BODY_BYTES=2048):
        response = client.post("/payments/statements/", {"file": SimpleUploadedFile("camt.xml", CAMT053)})
    assert response.status_code == 413
    assert not StatementImport.objects.exists()


def test_good_statement_still_imports(client: DjangoClient) -> None:
    sign_in(client, staff(Role.FINANCE))
    response = client.post("/payments/statements/", {"file": SimpleUploadedFile("camt.xml", CAMT053)})
    assert response.status_code == 302
    assert StatementImport.objects.count() == 1
