"""Signed provenance: ``--sign`` writes tags ``git verify-tag`` accepts; ``gitreg verify`` checks the chain.

Real ssh keys made with ``ssh-keygen`` in ``tmp_path`` and git's own ssh signing (``gpg.format ssh``,
no keyring daemon), configured in the test's temporary global git config, never the user's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitreg import Registry, api
from gitreg.cli import cli
from gitreg.errors import SigningError
from tests.support.cli import invoke, one_error_line
from tests.support.repo import git


def make_key(directory: Path, name: str) -> Path:
    """An unencrypted ed25519 key pair; returns the public key's path (as user.signingkey takes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@example.com", "-f", str(key)], check=True
    )
    return key.with_suffix(".pub")


def fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout
    return out.split()[1]  # SHA256:...


def allowed_signers(path: Path, *pubs: Path) -> Path:
    lines = []
    for pub in pubs:
        keytype, b64 = pub.read_text().split()[:2]
        lines.append(f"{pub.stem}@example.com {keytype} {b64}\n")
    path.write_text("".join(lines))
    return path


def global_config(env: dict[str, str], *pairs: str) -> None:
    """Set keys in the test's temporary global git config (GIT_CONFIG_GLOBAL from conftest)."""
    for key, value in zip(pairs[::2], pairs[1::2]):
        git("config", "--file", env["GIT_CONFIG_GLOBAL"], key, value)


@pytest.fixture
def alice(tmp_path: Path, isolated_env: dict[str, str]) -> Path:
    """ssh signing as alice, who is the only allowed signer; returns her public key."""
    pub = make_key(tmp_path / "keys", "alice")
    signers = allowed_signers(tmp_path / "allowed_signers", pub)
    global_config(
        isolated_env,
        "gpg.format",
        "ssh",
        "user.signingkey",
        str(pub),
        "gpg.ssh.allowedSignersFile",
        str(signers),
    )
    return pub


def tag_object(registry_path: Path, tag: str) -> str:
    return git("--git-dir", str(registry_path), "cat-file", "tag", f"refs/tags/{tag}")


def verify_tag(registry_path: Path, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "--git-dir", str(registry_path), "verify-tag", tag], capture_output=True, text=True, check=False
    )


def test_push_sign_makes_a_tag_git_verifies_and_verify_names_the_signer(
    registry_path: Path, onnx_file, alice: Path
) -> None:
    r = str(registry_path)
    res = invoke("push", str(onnx_file()), "--name", "m", "--sign", "--registry", r)
    assert res.exit_code == 0, res.stderr
    body = tag_object(registry_path, "m@v1.0.0")
    # GTO's shape, then the signature exactly where `git tag -s` puts it.
    assert "\ntag m@v1.0.0\n" in body
    assert "\n\nRegistering artifact m version v1.0.0\n-----BEGIN SSH SIGNATURE-----\n" in body
    p = verify_tag(registry_path, "m@v1.0.0")
    assert p.returncode == 0, p.stderr
    assert f'Good "git" signature for alice@example.com with ED25519 key {fingerprint(alice)}' in p.stderr

    p = invoke("verify", "m@v1.0.0", "--registry", r)
    assert p.exit_code == 0, p.stderr
    assert f"good ssh signature by alice@example.com (ED25519 {fingerprint(alice)})" in p.stdout
    commit = git("--git-dir", r, "rev-parse", "m@v1.0.0^{commit}")
    assert f"-> commit {commit[:12]}" in p.stdout
    assert "sidecar    models/m/model.toml: 1 artifact(s); sha256/size agree with the LFS pointers" in p.stdout
    assert "model.onnx" in p.stdout and ": ok (1 local copy hashed)" in p.stdout
    assert p.stdout.rstrip().endswith("verified: m@v1.0.0 signed by alice@example.com")

    report = Registry(registry_path).verify("m")
    assert report.ok and report.signers == ("alice@example.com",) and report.commit == commit
    assert [a.status for a in report.artifacts] == ["ok"]
    data = json.loads(invoke("verify", "m", "--json", "--registry", r).stdout)
    assert data["ok"] is True and data["signatures"][0]["key"] == f"ED25519 {fingerprint(alice)}"
    # Reading signed versions is unchanged.
    assert Registry(registry_path).show("m").version == "1.0.0"
    assert invoke("check", "--registry", r).exit_code == 0


def test_promote_rollback_demote_sign_their_stage_tags(registry: Registry, registry_path: Path, onnx_file, alice):
    registry.push_files([onnx_file()], "m", sign=True)
    api.push(onnx_file(), "m", registry=registry, sign=True)  # gitreg.push(..., sign=True)
    res = invoke("promote", "m@v1.0.0", "--to", "staging", "--sign", "--registry", str(registry_path))
    assert res.exit_code == 0, res.stderr
    ev, _ = api.promote("m@v1.0.1", "staging", registry=registry, sign=True)
    assert ev.tag == "m#staging#2"
    ev, _ = api.rollback("m", "staging", registry=registry, sign=True)
    assert ev.tag == "m#staging#3" and ev.version == "1.0.0"
    for tag in ("m@v1.0.0", "m@v1.0.1", "m#staging#1", "m#staging#2", "m#staging#3"):
        assert verify_tag(registry_path, tag).returncode == 0, tag

    # name#stage: both the version tag and the stage tag that gave it the stage are checked.
    p = invoke("verify", "m#staging", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert "signature  m@v1.0.0: good ssh signature by alice@example.com" in p.stdout
    assert "signature  m#staging#3: good ssh signature by alice@example.com" in p.stdout

    res = invoke("demote", "m", "--stage", "staging", "--sign", "--registry", str(registry_path))
    assert res.exit_code == 0, res.stderr
    unassign = res.stdout.strip()
    assert "!#" in unassign and verify_tag(registry_path, unassign).returncode == 0
    # Without --sign, tags stay unsigned: signing is opt-in per write.
    api.promote("m@v1.0.1", "staging", registry=registry)
    assert "BEGIN SSH SIGNATURE" not in tag_object(registry_path, "m#staging#6")
    p = invoke("verify", "m#staging", "--registry", str(registry_path))
    assert p.exit_code == 3
    assert one_error_line(p.stderr) == "error: m#staging#6 is not signed"


def test_unsigned_version_fails_unless_allowed(registry: Registry, registry_path: Path, onnx_file, alice) -> None:
    registry.push_files([onnx_file()], "m")
    p = invoke("verify", "m", "--registry", str(registry_path))
    assert p.exit_code == 3
    assert one_error_line(p.stderr) == "error: m@v1.0.0 is not signed"
    assert "signature  m@v1.0.0: unsigned" in p.stdout
    assert "--allow-unsigned" in p.stderr  # the hint names the way out
    p = invoke("verify", "m", "--allow-unsigned", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert p.stderr.strip() == "warning: m@v1.0.0 is not signed (accepted: --allow-unsigned)"
    assert "verified: m@v1.0.0 signed by nobody (unsigned)" in p.stdout


def test_key_outside_allowed_signers_fails_even_with_allow_unsigned(
    registry: Registry, registry_path: Path, onnx_file, alice, isolated_env, tmp_path: Path
) -> None:
    eve = make_key(tmp_path / "keys", "eve")
    global_config(isolated_env, "user.signingkey", str(eve))
    registry.push_files([onnx_file()], "m", sign=True)
    assert verify_tag(registry_path, "m@v1.0.0").returncode != 0  # git agrees: no principal matched
    for extra in ([], ["--allow-unsigned"]):
        p = invoke("verify", "m", *extra, "--registry", str(registry_path))
        assert p.exit_code == 3
        line = one_error_line(p.stderr)
        assert line.startswith("error: m@v1.0.0: untrusted signature: signed by a key that is not in the allowed")
        assert fingerprint(eve) in line
    # A signers file that lists eve, given on the command line, vouches for her.
    both = allowed_signers(tmp_path / "team_signers", alice, eve)
    p = invoke("verify", "m", "--allowed-signers", str(both), "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert "good ssh signature by eve@example.com" in p.stdout
    # No allowed signers at all: the signature cannot be checked, which fails too.
    git("config", "--file", isolated_env["GIT_CONFIG_GLOBAL"], "--unset", "gpg.ssh.allowedSignersFile")
    report = registry.verify("m")
    assert not report.ok and report.signatures[0].status == "unverifiable"
    assert "--allowed-signers" in (report.hint or "")
    p = CliRunner().invoke(cli, ["verify", "m", "--allowed-signers", str(tmp_path / "nope"), "-r", str(registry_path)])
    assert p.exit_code == 2 and "does not exist" in p.stderr


def test_bad_or_renamed_signed_tag_fails(registry: Registry, registry_path: Path, onnx_file, alice) -> None:
    registry.push_files([onnx_file()], "m", sign=True)
    gd = str(registry_path)
    body = tag_object(registry_path, "m@v1.0.0")
    # The same signature under a changed message: git's verification fails, so does gitreg's.
    forged = body.replace("Registering artifact m version v1.0.0", "Registering artifact m version v1.0.0 (ok)")
    oid = subprocess.run(
        ["git", "--git-dir", gd, "mktag"], input=forged + "\n", capture_output=True, text=True, check=True
    ).stdout.strip()
    git("--git-dir", gd, "update-ref", "refs/tags/m@v1.0.0", oid)  # an admin with disk access, no hook
    for extra in ([], ["--allow-unsigned"]):
        p = invoke("verify", "m", *extra, "--registry", gd)
        assert p.exit_code == 3
        assert one_error_line(p.stderr).startswith("error: m@v1.0.0: bad signature: Signature verification failed")
    # A good signed tag object copied under another version's name is not what was signed.
    original = subprocess.run(
        ["git", "--git-dir", gd, "mktag"], input=body + "\n", capture_output=True, text=True, check=True
    ).stdout.strip()
    git("--git-dir", gd, "update-ref", "refs/tags/m@v9.0.0", original)
    p = invoke("verify", "m@v9.0.0", "--registry", gd)
    assert p.exit_code == 3
    assert "bad signature: the tag object is named 'm@v1.0.0', not 'm@v9.0.0'" in one_error_line(p.stderr)


def test_tampered_or_missing_artifact_fails(registry: Registry, registry_path: Path, onnx_file, alice) -> None:
    registry.push_files([onnx_file()], "m", sign=True)
    sc = registry.show("m").sidecar
    assert sc is not None
    oid = sc.artifacts["onnx"].sha256
    obj = registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    original = obj.read_bytes()
    obj.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, one bit flipped
    p = invoke("verify", "m", "--registry", str(registry_path))
    assert p.exit_code == 3
    line = one_error_line(p.stderr)
    assert line.startswith("error: m@v1.0.0: model.onnx on this machine does not match the sidecar:"), line
    assert "good ssh signature by alice@example.com" in p.stdout  # the signature itself is fine
    assert "model.onnx  sha256" in p.stdout and ": mismatch (" in p.stdout
    obj.unlink()
    p = invoke("verify", "m", "--registry", str(registry_path))
    assert p.exit_code == 3
    assert (
        one_error_line(p.stderr) == "error: m@v1.0.0: model.onnx bytes are not on this machine (verify never downloads)"
    )
    assert "hint: run: gitreg pull m@v1.0.0" in p.stderr
    obj.write_bytes(original)
    assert invoke("verify", "m", "--registry", str(registry_path)).exit_code == 0


def test_sidecar_disagreeing_with_its_pointer_fails(
    registry: Registry, registry_path: Path, onnx_file, alice, tmp_path: Path
) -> None:
    registry.push_files([onnx_file()], "m", sign=True)
    # Someone edits the sidecar's sha256 in a clone and signs their own tag for it (alice's key).
    wt = tmp_path / "clone"
    git("clone", "-q", str(registry_path), str(wt))
    sc = wt / "models" / "m" / "model.toml"
    text = sc.read_text()
    real = text.split('sha256 = "', 1)[1][:64]
    sc.write_text(text.replace(real, "0" * 64).replace('version = "1.0.0"', 'version = "2.0.0"'))
    git("-C", str(wt), "commit", "-qam", "edit sidecar")
    git("-C", str(wt), "tag", "-s", "m@v2.0.0", "-m", "Registering artifact m version v2.0.0")
    git("-C", str(wt), "push", "-q", "--no-verify", "origin", "HEAD:main", "m@v2.0.0")
    p = invoke("verify", "m@v2.0.0", "--registry", str(registry_path))
    assert p.exit_code == 3
    assert "good ssh signature by alice@example.com" in p.stdout  # git tag -s and gitreg agree on the format
    assert "sha256/size DISAGREE with the LFS pointers" in p.stdout
    line = one_error_line(p.stderr)
    assert line.startswith("error: m@v2.0.0: model.onnx LFS pointer does not match the sidecar: pointer "), line


@pytest.mark.slow
def test_missing_or_unusable_key_fails_before_anything_is_pushed(
    registry: Registry, registry_path: Path, onnx_file, isolated_env, tmp_path: Path
) -> None:
    registry.push_files([onnx_file()], "m")
    before = git("--git-dir", str(registry_path), "for-each-ref")
    objects = sorted(p.name for p in (registry_path / "lfs" / "objects").rglob("*") if p.is_file())
    global_config(isolated_env, "gpg.format", "ssh")
    new = str(onnx_file())
    p = invoke("push", new, "--name", "m", "--sign", "--registry", str(registry_path))
    assert p.exit_code == 1
    assert one_error_line(p.stderr).startswith("error: cannot sign: user.signingkey is not set")
    assert "hint: git config --global user.signingkey" in p.stderr
    global_config(isolated_env, "user.signingkey", str(tmp_path / "no-such-key.pub"))
    p = invoke("push", new, "--name", "m", "--sign", "--registry", str(registry_path))
    assert p.exit_code == 1
    assert (
        one_error_line(p.stderr) == f"error: cannot sign: user.signingkey {tmp_path / 'no-such-key.pub'} does not exist"
    )
    p = invoke("promote", "m", "--to", "staging", "--sign", "--registry", str(registry_path))
    assert p.exit_code == 1 and "cannot sign" in one_error_line(p.stderr)
    global_config(isolated_env, "gpg.format", "sigstore")
    with pytest.raises(SigningError, match=r"gpg\.format is 'sigstore'"):
        registry.push_files([new], "m", sign=True)
    assert git("--git-dir", str(registry_path), "for-each-ref") == before
    assert sorted(p.name for p in (registry_path / "lfs" / "objects").rglob("*") if p.is_file()) == objects
    # A key file that is not a key: ssh-keygen itself refuses, and no ref moves (the uploaded
    # object, already in the store, is harmless without a ref).
    junk = tmp_path / "junk.pub"
    junk.write_text("not a key\n")
    global_config(isolated_env, "gpg.format", "ssh", "user.signingkey", str(junk))
    with pytest.raises(SigningError, match="cannot sign: ssh-keygen -Y sign failed"):
        registry.push_files([new], "m", sign=True)
    assert git("--git-dir", str(registry_path), "for-each-ref") == before


@pytest.mark.gto
def test_gto_reads_signed_tags(registry: Registry, registry_path: Path, onnx_file, alice) -> None:
    from tests.support.gto import gto_json, require_gto

    require_gto()
    registry.push_files([onnx_file()], "m", sign=True)
    registry.push_files([onnx_file()], "m", sign=True)
    api.promote("m@v1.0.0", "production", registry=registry, sign=True)
    shown = gto_json(["show"], registry_path)
    assert shown["m"]["version"] == "v1.0.1" and shown["m"]["registered"] is True
    assert shown["m"]["stage"]["production"] == "v1.0.0"
    versions = gto_json(["show", "m"], registry_path)
    assert sorted((g["version"], g["commit_hexsha"]) for g in versions) == sorted(
        (f"v{v.version}", v.commit) for v in registry.versions("m")
    )
    history = gto_json(["history", "m"], registry_path)
    assert {(e["event"], e["version"]) for e in history} >= {("registration", "v1.0.0"), ("assignment", "v1.0.0")}


@pytest.mark.http
def test_remote_registry_verifies_offline_after_pull(tmp_path: Path, alice, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.onnxfiles import make_onnx
    from tests.support.servers import http_registry

    with http_registry(tmp_path / "srv") as server:
        _, url = server.create_repo("org/registry.git")
        assert Registry(url).init() is True
        Registry(url).push_files([make_onnx(tmp_path / "a" / "m.onnx")], "m", sign=True)
        assert Registry(url).verify("m").ok  # the pusher's cache holds the bytes it uploaded

        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "machine-b"))  # a fresh machine
        p = invoke("verify", "m", "--registry", url)
        assert p.exit_code == 1
        assert one_error_line(p.stderr) == f"error: nothing of {url} is on this machine yet, and verify works offline"
        assert invoke("list", "--registry", url).exit_code == 0  # tags and sidecars, no artifact bytes
        p = invoke("verify", "m", "--registry", url)
        assert p.exit_code == 3 and "good ssh signature by alice@example.com" in p.stdout
        assert "model.onnx bytes are not on this machine" in one_error_line(p.stderr)
        assert invoke("pull", "m", "-o", str(tmp_path / "out"), "--registry", url).exit_code == 0
        p = invoke("verify", "m", "--registry", url)
        assert p.exit_code == 0, p.stderr
        assert "verified: m@v1.0.0 signed by alice@example.com" in p.stdout
