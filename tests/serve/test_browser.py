"""A real headless Chromium uses the page: upload through #photo, pick a style, press #go,
and #result holds the Cartoonizer's output at the photo's size. Skips without chromium
locally; fails instead when CI is set (.ci/run installs it)."""

import os
import threading

import pytest

from cartoongan.images import psnr, read_image
from cartoongan.presets import read_preset_config, resolve_preset
from cartoongan.serve.app import Limits, create_app, style_catalogue
from tests.serve.browser import cartoonize_in_page, find_browser, start_chromium
from tests.serve.conftest import Gate, decode, encode, live_server, photo
from tests.serve.loadgen import request


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    paths, reason = find_browser()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, but CI is set: the browser tests must run there")
        pytest.skip(reason)
    browser = start_chromium(*paths, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def page_url(lite_cartoonizer, tiny_cartoonizer):
    served = {"hayao_lite": lite_cartoonizer, "tiny": tiny_cartoonizer}
    catalogue = style_catalogue({"hayao_lite": read_preset_config(resolve_preset("hayao_lite")), "tiny": {}})
    with live_server(create_app(served, catalogue=catalogue, default_style="tiny")) as url:
        yield url


@pytest.mark.slow
def test_the_page_cartoonizes_an_uploaded_photo(browser, page_url, lite_cartoonizer, tmp_path):
    from selenium.webdriver.common.by import By

    path = tmp_path / "odd photo.jpg"
    photo(97, 61, seed=5).save(path, quality=92)
    png = cartoonize_in_page(browser, page_url, path, "hayao_lite")
    assert png is not None, browser.find_element(By.ID, "error").text
    result = decode(png)
    assert result.shape == (61, 97, 3)
    assert browser.execute_script("const r = document.getElementById('result'); "
                                  "return [r.naturalWidth, r.naturalHeight]") == [97, 61]
    assert psnr(result, lite_cartoonizer(read_image(str(path))[0])) >= 50
    download = browser.find_element(By.ID, "download")
    assert download.is_displayed() and download.get_attribute("download") == "odd photo-hayao_lite.png"
    assert download.get_attribute("href") == browser.find_element(By.ID, "result").get_attribute("src")
    # Everything the page loaded came from this server (or is a blob: of a result/photo).
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert loaded and all(name.startswith((page_url, "blob:")) for name in loaded), loaded
    browser.save_screenshot(str(tmp_path / "page.png"))
    # The before/after slider moves the divider.
    browser.execute_script("const s = document.getElementById('slider'); s.value = 20; "
                           "s.dispatchEvent(new Event('input'))")
    assert browser.execute_script(
        "return document.getElementById('compare').style.getPropertyValue('--split')") == "20%"


@pytest.mark.slow
def test_the_page_explains_an_unreadable_file_in_words(browser, page_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = tmp_path / "not really.png"
    path.write_bytes(b"this is text, not a picture")
    assert cartoonize_in_page(browser, page_url, path, "tiny") is None
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 10).until(lambda b: "could not read this file as an image" in error.text)
    assert "not an image" in error.text


@pytest.mark.slow
def test_the_page_waits_out_a_busy_server_and_retries(browser, tiny_cartoonizer, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    gate = Gate(tiny_cartoonizer)
    app = create_app({"gate": gate}, limits=Limits(workers=1, queue_size=0))
    path = tmp_path / "photo.png"
    photo(41, 29).save(path)
    with live_server(app) as url:
        other = threading.Thread(target=request, args=(f"{url}/api/cartoonize", "POST", encode(photo(8, 8))))
        other.start()  # another client holds the only slot
        try:
            assert gate.started.acquire(timeout=10)
            browser.get(url)
            wait = WebDriverWait(browser, 30)
            wait.until(lambda b: b.execute_script("return document.getElementById('style').options.length > 0"))
            browser.find_element(By.ID, "photo").send_keys(str(path))
            Select(browser.find_element(By.ID, "style")).select_by_value("gate")
            browser.find_element(By.ID, "go").click()
            wait.until(lambda b: "busy with other photos" in b.find_element(By.ID, "status").text)
            assert not browser.find_element(By.ID, "error").is_displayed()
        finally:
            gate.release.set()
            other.join(30)
        wait.until(lambda b: b.execute_script("return document.getElementById('result').naturalWidth") == 41)
        assert "Done" in browser.find_element(By.ID, "status").text


@pytest.mark.slow
def test_the_page_says_which_pass_a_tiled_photo_is_at(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.serve.test_app import Passes

    passes = Passes()  # reports 4 of 12 tiles, in pass 1 of 3, then waits for the test
    path = tmp_path / "photo.png"
    photo(41, 29).save(path)
    with live_server(create_app({"passes": passes})) as url:
        try:
            browser.get(url)
            wait = WebDriverWait(browser, 30)
            wait.until(lambda b: b.execute_script("return document.getElementById('style').options.length > 0"))
            browser.find_element(By.ID, "photo").send_keys(str(path))
            Select(browser.find_element(By.ID, "style")).select_by_value("passes")
            browser.find_element(By.ID, "go").click()
            wait.until(lambda b: "pass 1 of 3" in b.find_element(By.ID, "status").text)
            assert browser.execute_script("return document.getElementById('progress').value") == pytest.approx(4 / 12)
        finally:
            passes.release.set()
        wait.until(lambda b: b.execute_script("return document.getElementById('result').naturalWidth") == 41)
        assert "Done" in browser.find_element(By.ID, "status").text
