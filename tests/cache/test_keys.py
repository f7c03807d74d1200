from nic_edge.cache.keys import make_key, normalize_question


def test_normalize_case_space_punctuation_unicode() -> None:
    assert normalize_question("  How do I   START the Engine?? ") == "how do i start the engine"
    assert normalize_question("Spark-plug gap") == normalize_question("spark plug gap")
    assert normalize_question("Won't it start") == normalize_question("wont it start")
    # NFKC: full-width letters and ligatures fold to plain ones.
    assert normalize_question("ＦＯＲＤ ﬁre") == "ford fire"
    assert normalize_question("1.5 inch") != normalize_question("15 inch")
    assert normalize_question("tab\there\nnow") == "tab here now"


def test_make_key_depends_on_fingerprint_not_on_form() -> None:
    a = make_key("How do I start?", "fp1")
    assert a == make_key("how do i start", "fp1")
    assert a != make_key("how do i start", "fp2")
    assert len(a) == 32


def test_importing_the_cache_package_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, nic_edge.cache, nic_edge.cache.tiered, nic_edge.core.storage; "
            "print(sorted(m for m in ('lmdb', 'msgpack', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
