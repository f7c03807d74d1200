"""Ed25519 signing for content bundles and release bundles (the ``cryptography`` package).

The fleet box holds the private key (``nic-fleet keygen --signing --out FILE``: PKCS#8 PEM in
FILE, mode 0600; SubjectPublicKeyInfo PEM in FILE.pub). Devices hold only public keys, so a key
read off one box cannot sign anything. ``verify`` accepts a list of public keys: during a key
rotation's overlap window a device trusts both the old and the new key.

Ed25519 signatures are deterministic (RFC 8032): the same key and data always give the same
signature, which keeps signed bundles byte-identical for the same inputs. ``cryptography`` is
imported lazily (``import nic_edge`` stays light); on Raspberry Pi OS it is python3-cryptography.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

from nic_edge.errors import MissingDependencyError, NicEdgeError, SignatureError

PEM_PUBLIC_BEGIN = b"-----BEGIN PUBLIC KEY-----"


def _serialization() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError as exc:
        raise MissingDependencyError(
            "the 'cryptography' package is needed for Ed25519 signatures",
            hint="pip install cryptography (Raspberry Pi OS: apt install python3-cryptography)") from exc
    return serialization


def need_cryptography() -> None:
    """Raise MissingDependencyError (with the install hint) unless ``cryptography`` imports."""
    _serialization()


def _ed25519() -> Any:
    _serialization()
    from cryptography.hazmat.primitives.asymmetric import ed25519
    return ed25519


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet, atomically, with ``mode`` from the start."""
    if path.exists():
        raise NicEdgeError(f"{path} already exists", hint="remove it first or choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # the umask may have narrowed or (for .pub) the mode is wanted as given
    os.replace(tmp, path)


def public_path(path: Path | str) -> Path:
    """Where ``generate`` puts the public key of the private key at ``path``."""
    p = Path(path)
    return p.with_name(p.name + ".pub")


def generate(path: Path) -> None:
    """New key pair: private key PEM at ``path`` (mode 0600), public key PEM at ``path``.pub."""
    ser, ed = _serialization(), _ed25519()
    path = Path(path)
    pub_path = public_path(path)
    if path.exists() or pub_path.exists():
        raise NicEdgeError(f"{path} or {pub_path} already exists", hint="remove it first or choose another --out")
    key = ed.Ed25519PrivateKey.generate()
    priv = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    pub = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    _write_new(path, priv, 0o600)
    _write_new(pub_path, pub, 0o644)


def load_private(path: Path | str) -> Any:
    """The Ed25519 private key in a PEM file written by ``generate``."""
    ser, ed = _serialization(), _ed25519()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise NicEdgeError(f"cannot read signing key {path}: {exc.strerror or exc}",
                           hint="check fleet.signing_key_file or --key") from exc
    try:
        key = ser.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise NicEdgeError(f"{path} is not a PEM private key",
                           hint="create one with nic-fleet keygen --signing --out FILE") from exc
    if not isinstance(key, ed.Ed25519PrivateKey):
        raise NicEdgeError(f"{path} is not an Ed25519 key", hint="create one with nic-fleet keygen --signing")
    return key


def load_public(path_or_bytes: Path | str | bytes) -> Any:
    """One Ed25519 public key from a PEM file path or PEM bytes."""
    keys = load_public_keys(path_or_bytes)
    if len(keys) != 1:
        raise NicEdgeError(f"expected one public key, found {len(keys)}", hint="use load_public_keys for a key ring")
    return keys[0]


def load_public_keys(path_or_bytes: Path | str | bytes) -> list[Any]:
    """Every public key in a PEM file (one or more ``PUBLIC KEY`` blocks: a rotation key ring)."""
    ser, ed = _serialization(), _ed25519()
    where = "public key bytes"
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
    else:
        where = str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise NicEdgeError(f"cannot read public key {where}: {exc.strerror or exc}",
                               hint="check fleet.signing_pub_file or --pub") from exc
    blocks = [PEM_PUBLIC_BEGIN + part for part in data.split(PEM_PUBLIC_BEGIN)[1:]]
    keys = []
    for block in blocks:
        try:
            key = ser.load_pem_public_key(block)
        except (ValueError, TypeError) as exc:
            raise NicEdgeError(f"{where} holds a malformed public key",
                               hint="copy the FILE.pub written by nic-fleet keygen --signing") from exc
        if not isinstance(key, ed.Ed25519PublicKey):
            raise NicEdgeError(f"{where} holds a key that is not Ed25519", hint="use nic-fleet keygen --signing")
        keys.append(key)
    if not keys:
        raise NicEdgeError(f"{where} holds no PEM public key", hint="copy the FILE.pub written by nic-fleet keygen --signing")
    return keys


def public_pem(key: Any) -> bytes:
    """PEM of a public key, or of the public half of a private key."""
    ser = _serialization()
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: Any) -> str:
    """A short fingerprint (hex sha256 of the raw public key, 16 chars) for records and logs."""
    import hashlib

    ser = _serialization()
    pub = key.public_key() if hasattr(key, "public_key") else key
    raw = pub.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(private_key: Any, data: bytes) -> str:
    """Base64 (standard alphabet) Ed25519 signature of ``data``."""
    return base64.b64encode(private_key.sign(bytes(data))).decode("ascii")


def verify(public_keys: list, data: bytes, sig_b64: str) -> bool:
    """True when any of ``public_keys`` verifies ``sig_b64`` over ``data``; never raises on a bad sig."""
    exceptions = _invalid_signature()
    try:
        sig = base64.b64decode(sig_b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError, AttributeError):
        return False
    if len(sig) != 64:
        return False
    for key in public_keys:
        try:
            key.verify(sig, bytes(data))
            return True
        except exceptions:
            continue
    return False


def require(public_keys: list, data: bytes, sig_b64: str, what: str) -> None:
    """``verify`` or raise SignatureError naming ``what`` was signed."""
    if not public_keys:
        raise SignatureError(f"{what}: this box holds no signing public key",
                             hint="flash the fleet's FILE.pub (fleet.signing_pub_file)")
    if not verify(public_keys, data, sig_b64):
        raise SignatureError(f"{what}: signature does not verify with the trusted key(s)",
                             hint="signed with another key, or altered after signing")


def _invalid_signature() -> type[Exception]:
    _serialization()
    from cryptography.exceptions import InvalidSignature
    return InvalidSignature
