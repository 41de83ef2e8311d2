"""User data: no join token, no private key except the host key in cloud-init's ssh_keys."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import yaml
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.userdata import UserData, render_user_data
from policy.rules import INSTANCE, check_user_data_secrets, user_data_findings
from tests.cloudmocks import FAKE_PRIVATE_KEY, FAKE_PUBLIC_KEY, FAKE_TOKEN
from tests.policy.helpers import Collect, resource_args

RSA_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLI\n-----END RSA PRIVATE KEY-----\n"


def check(**props: Any) -> Collect:
    c = Collect()
    check_user_data_secrets(resource_args(INSTANCE, props), c)
    return c


def cloud_config(doc: dict[str, Any]) -> str:
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)


def pinned() -> str:
    """The program's own user data with a pinned host key (pinHostKeys)."""
    return render_user_data(UserData("swarm-manager-1", "ubuntu", host_key=(FAKE_PRIVATE_KEY, FAKE_PUBLIC_KEY)))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def gz_b64(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode())).decode()


def test_program_user_data_passes_with_and_without_pinned_host_key() -> None:
    assert not check(userData=render_user_data(UserData("swarm-worker-1", "ubuntu")))
    text = pinned()
    assert "ed25519_private" in text and "PRIVATE KEY" in text
    assert not check(userData=text)


def test_host_key_under_ssh_keys_is_the_exception() -> None:
    for slot in ("ed25519_private", "rsa_private", "ecdsa_private"):
        assert not check(userData=cloud_config({"ssh_keys": {slot: FAKE_PRIVATE_KEY}})), slot
    assert not check(userData=cloud_config({"ssh_keys": {"rsa_private": RSA_KEY, "ed25519_private": FAKE_PRIVATE_KEY}}))


def test_the_same_key_elsewhere_is_refused() -> None:
    in_files = cloud_config({"write_files": [{"path": "/root/.ssh/id_ed25519", "content": FAKE_PRIVATE_KEY}]})
    found = check(userData=in_files)
    assert len(found.messages) == 1 and "write_files.0.content" in found.text()
    in_runcmd = cloud_config({"runcmd": [["sh", "-c", f"echo '{RSA_KEY}' > /root/key"]]})
    assert "runcmd.0.2" in check(userData=in_runcmd).text()
    # Next to a legitimate host key, a second copy elsewhere is still refused.
    both = cloud_config(
        {"ssh_keys": {"ed25519_private": FAKE_PRIVATE_KEY}, "write_files": [{"content": FAKE_PRIVATE_KEY}]}
    )
    assert "write_files" in check(userData=both).text()
    # A public-key slot or a user's keys are not a host private-key slot.
    assert check(userData=cloud_config({"ssh_keys": {"ed25519_public": FAKE_PRIVATE_KEY}}))
    assert check(userData=cloud_config({"users": [{"name": "x", "ssh_keys": {"ed25519_private": RSA_KEY}}]}))


def test_keys_the_parser_does_not_show_are_refused() -> None:
    # In a comment: not in the parsed document, still in the user data.
    commented = pinned() + "# " + FAKE_PRIVATE_KEY.replace("\n", "\n# ")
    assert "outside ssh_keys" in check(userData=commented).text()
    # A YAML alias copying the host key into a file.
    alias = (
        "#cloud-config\nssh_keys:\n  ed25519_private: &k |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    Zm==\n"
        "    -----END OPENSSH PRIVATE KEY-----\nwrite_files:\n  - path: /tmp/k\n    content: *k\n"
    )
    assert "write_files.0.content" in check(userData=alias).text()
    # Encoded inside write_files.
    for encoding, content in (("b64", b64(RSA_KEY)), ("gz+b64", gz_b64(RSA_KEY)), ("base64", b64(FAKE_TOKEN))):
        doc = cloud_config({"write_files": [{"path": "/tmp/x", "encoding": encoding, "content": content}]})
        assert check(userData=doc), encoding


def test_join_token_is_refused_anywhere() -> None:
    assert (
        "join token"
        in check(userData=cloud_config({"runcmd": [f"docker swarm join --token {FAKE_TOKEN} m:2377"]})).text()
    )
    # Even in the host-key slot, and in a comment.
    assert check(userData=cloud_config({"ssh_keys": {"ed25519_private": FAKE_TOKEN}}))
    assert check(userData=pinned() + f"# {FAKE_TOKEN}\n")
    assert check(userData=f"#!/bin/sh\ndocker swarm join --token {FAKE_TOKEN} 10.0.0.1:2377\n")


def test_scripts_have_no_place_for_a_key() -> None:
    assert check(userData=f"#!/bin/bash\ncat > /etc/ssh/ssh_host_ed25519_key <<EOF\n{FAKE_PRIVATE_KEY}EOF\n")
    assert not check(userData="#!/bin/bash\necho hello\n")


def test_base64_and_gzip_user_data() -> None:
    bad = cloud_config({"write_files": [{"path": "/root/k", "content": RSA_KEY}]})
    for encoded in (b64(bad), gz_b64(bad)):
        found = check(userDataBase64=encoded)
        assert found and "userDataBase64" in found.text()
    assert not check(userDataBase64=b64(pinned()))
    assert not check(userDataBase64=gz_b64(pinned()))
    assert check(userDataBase64=gz_b64(f"#!/bin/sh\necho {FAKE_TOKEN}\n"))
    # Base64 handed to the plain field is decoded too.
    assert check(userData=b64(bad))
    assert not check(userData=b64(pinned()))


def test_multipart_user_data() -> None:
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    def mime(config: str) -> str:
        msg = MIMEMultipart()
        msg.attach(MIMEText(config, "cloud-config"))
        msg.attach(MIMEText("#!/bin/sh\necho hi\n", "x-shellscript"))
        return msg.as_string()

    assert not check(userData=mime(pinned()))
    assert "MIME part" in check(userData=mime(cloud_config({"write_files": [{"content": RSA_KEY}]}))).text()


def test_unknown_user_data_is_skipped() -> None:
    assert not check(userData=UNKNOWN_STRING_VALUE)
    assert not check(userDataBase64=UNKNOWN_STRING_VALUE)
    assert not check()  # no user data at all


def test_messages_never_carry_the_secret() -> None:
    found = user_data_findings(cloud_config({"write_files": [{"content": RSA_KEY}], "runcmd": [FAKE_TOKEN]}))
    assert len(found) == 2
    assert not any("MIIB" in f or FAKE_TOKEN in f or "BEGIN" in f for f in found)
