"""Headless Chromium (Debian's chromium + chromedriver) driven by Selenium, kept on loopback.

The driver path is given explicitly (Selenium Manager never runs, so nothing is
downloaded), SE_AVOID_STATS=true, and Chromium's own background traffic is off; any
non-loopback request goes to a closed local proxy port and no name resolves.

    python -m tests.serve.browser --photo photo.jpg --style hayao --output docs/serve.png

takes the README's screenshot: the page with a result, served in-process from loopback.
"""

import argparse
import base64
import os
import shutil
import sys

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMEDRIVER_FALLBACKS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
_CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,860",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--disable-breakpad",
    "--metrics-recording-only",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
    # Whatever might still try to leave the machine goes to a closed loopback port, unresolved.
    "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


def find_browser():
    """(chromium, chromedriver) paths, or (None, reason)."""
    chromium = os.environ.get("CHROMIUM_BINARY") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or next(
        (path for path in CHROMEDRIVER_FALLBACKS if os.path.isfile(path)), None)
    missing = [name for name, path in (("chromium", chromium), ("chromium-driver", driver))
               if not path or not os.path.isfile(path)]
    if missing:
        return None, (f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver; "
                      ".ci/run does)")
    try:
        import selenium  # noqa: F401  (only: is it installed?)
    except ImportError:
        return None, "selenium is not installed (pip install -e '.[test]')"
    return (chromium, driver), None


def start_chromium(chromium, driver, user_data_dir):
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium's usage statistics: off
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for flag in _CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def cartoonize_in_page(browser, url, photo_path, style, timeout=120):
    """Opens the page, uploads `photo_path` through #photo, picks `style`, presses #go and
    waits for #result. -> the result's PNG bytes, as the page holds them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(url)
    wait = WebDriverWait(browser, timeout)
    wait.until(lambda b: b.execute_script("return document.getElementById('style').options.length > 0"))
    browser.find_element(By.ID, "photo").send_keys(os.path.abspath(photo_path))
    Select(browser.find_element(By.ID, "style")).select_by_value(style)
    wait.until(lambda b: b.find_element(By.ID, "go").is_enabled())
    browser.find_element(By.ID, "go").click()
    wait.until(lambda b: b.execute_script(
        "const r = document.getElementById('result'); return r.complete && r.naturalWidth > 0")
        or b.find_element(By.ID, "error").is_displayed())
    encoded = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const img = document.getElementById('result');
        if (!img.src) { done(null); return; }
        fetch(img.src).then((r) => r.arrayBuffer()).then((buffer) => {
          let text = '';
          for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
          done(btoa(text));
        }).catch((error) => done('error: ' + error));""")
    if encoded is not None and encoded.startswith("error: "):
        raise RuntimeError(f"reading the result in the page failed: {encoded}")
    return None if encoded is None else base64.b64decode(encoded)


def main(argv=None):
    import tempfile

    parser = argparse.ArgumentParser(description="Screenshot of the page with a result (README).")
    parser.add_argument("--photo", required=True)
    parser.add_argument("--style", default="hayao")
    parser.add_argument("--output", required=True, help="a .png or .jpg; shrunk to under 200 KB")
    args = parser.parse_args(argv)
    paths, reason = find_browser()
    if paths is None:
        parser.error(reason)
    from cartoongan.serve.server import build_app, load_styles
    from tests.serve.conftest import live_server

    app = build_app(load_styles([args.style], "auto"))
    with live_server(app) as url, tempfile.TemporaryDirectory() as profile:
        browser = start_chromium(*paths, profile)
        try:
            if cartoonize_in_page(browser, url, args.photo, args.style) is None:
                parser.error("the page showed an error: " + browser.find_element("id", "error").text)
            screenshot = browser.get_screenshot_as_png()
        finally:
            browser.quit()
    save_small(screenshot, args.output)
    return 0


def save_small(png_bytes, path, limit=200_000):
    """Writes the screenshot under `limit` bytes (JPEG for .jpg, else a palette PNG)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png_bytes)).convert("RGB")
    for width in (image.width, 1100, 960, 800, 640):
        small = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        if path.lower().endswith((".jpg", ".jpeg")):
            small.save(buffer, "JPEG", quality=82, optimize=True)
        else:
            small.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
                buffer, "PNG", optimize=True)
        if buffer.tell() <= limit:
            break
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    print(f"{path}: {small.width}x{small.height}, {buffer.tell() / 1000:.0f} kB", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
