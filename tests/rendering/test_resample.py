"""The planar path's resampler (fast_image_resize) and its encode straight from planes."""

from __future__ import annotations

import io
import multiprocessing

import pytest
from PIL import Image, ImageChops

from images_app.rendering import parse_spec, render
from images_app.rendering.engines import pillow, resample

from .factories import chart, encode, photo, psnr

LANCZOS = Image.Resampling.LANCZOS


def test_fast_image_resize_is_installed():
    # The pinned requirements carry it; without it the planar path is Pillow's LANCZOS.
    assert resample.FAST


@pytest.mark.parametrize("mode", ["L", "RGB", "YCbCr"])
@pytest.mark.parametrize(
    ("source", "size"),
    [((1200, 900), (614, 461)), ((1200, 900), (97, 73)), ((601, 401), (300, 201))],
    ids=["under-2x", "12x-box-first", "odd"],
)
def test_lanczos_matches_pillows_own_on_a_sharp_chart(mode, source, size):
    image = chart(*source).convert(mode)
    resized = resample.lanczos(image, size, threads=2)
    assert (resized.mode, resized.size) == (mode, size)
    reference = image.resize(size, LANCZOS)
    assert psnr(resized.convert("RGB"), reference.convert("RGB")) >= 43  # libvips: 44.1 on "odd"


@pytest.mark.parametrize("size", [(2048, 1365), (1023, 767), (301, 201)], ids=["up", "odd", "down"])
def test_bilinear_matches_pillows_own(size):
    # The planar path's full-size colour (odd sides, PNG, q90+): fast_image_resize's triangle
    # filter where Pillow's BILINEAR was, the same pixels to within a level.
    image = photo(1500, 1000).convert("YCbCr")
    resized = resample.bilinear(image, size)
    assert (resized.mode, resized.size) == ("YCbCr", size)
    for band in ("Cb", "Cr"):
        ours = resized.getchannel(band)
        reference = image.getchannel(band).resize(size, Image.Resampling.BILINEAR)
        assert ImageChops.difference(ours, reference).getextrema()[1] <= 1


def test_lanczos_hands_back_an_image_already_that_size():
    image = photo(64, 48).convert("L")
    assert resample.lanczos(image, (64, 48)) is image


def _resize_in_child(queue):
    image = photo(400, 300).convert("L")
    queue.put(resample.lanczos(image, (100, 75), threads=2).size)


def test_a_forked_child_resizes_on_a_pool_of_its_own():
    # gunicorn --preload and Celery's prefork pool fork after the parent may have resized: a
    # thread pool made before a fork has no threads in the child, so it would wait forever.
    resample.lanczos(photo(400, 300).convert("L"), (100, 75), threads=2)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_resize_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=1) == (100, 75)


@pytest.mark.parametrize("engine", ["vips", "pillow"])
@pytest.mark.parametrize("box", [600, 599], ids=["even-planes", "odd-merged"])
def test_planar_jpegs_match_the_merged_encode(engine, box):
    # Renditions with even sides are encoded from their planes, odd ones (which simplejpeg
    # reads past) merged first and encoded by Pillow: both give the picture the plain path
    # gives, the 4:2:0 encoder's average of the same chroma.
    data = encode(photo(1200, 900), "JPEG", quality=95)
    spec = parse_spec("r", f"max-{box}x{box}")
    (planar,) = render(data, [spec], formats=["JPEG"], engine=engine)
    assert planar.decoded_by.endswith("ycbcr")
    assert pillow._planar_encodes((planar.width, planar.height)) == (box == 600)
    reference = (
        Image.open(io.BytesIO(data)).convert("RGB").resize((planar.width, planar.height), LANCZOS)
    )
    picture = Image.open(io.BytesIO(planar.data))
    assert (picture.format, picture.size, picture.mode) == ("JPEG", reference.size, "RGB")
    assert psnr(picture, reference) >= 38  # q85 of a LANCZOS reference


def test_planar_encodes_only_even_sides():
    assert pillow._planar_encodes((2048, 1536))
    assert not pillow._planar_encodes((2048, 1365))
    assert not pillow._planar_encodes((1365, 2048))


def test_without_fast_image_resize_the_vips_engine_keeps_its_own_path(monkeypatch):
    from images_app.rendering.engines import vips

    monkeypatch.setattr(vips, "FAST", False)  # as where cykooz-resizer is not installed
    data = encode(photo(800, 600), "JPEG")
    (output,) = render(data, [parse_spec("r", "max-400x400")], formats=["JPEG"], engine="vips")
    assert output.decoded_by == "turbojpeg 1/1"


def test_without_fast_image_resize_the_planar_path_resizes_with_pillow(monkeypatch):
    monkeypatch.setattr(resample, "FAST", False)
    monkeypatch.setattr(pillow, "FAST", False)
    data = encode(chart(1200, 900), "JPEG", quality=92)
    specs = [parse_spec(f"b{box}", f"max-{box}x{box}|format-png") for box in (90, 480, 614)]
    full = Image.open(io.BytesIO(data)).convert("RGB")
    for output in render(data, specs, formats=["JPEG"], engine="pillow"):
        reference = full.resize((output.width, output.height), LANCZOS)
        assert psnr(Image.open(io.BytesIO(output.data)), reference) >= 40, output.name
        assert output.decoded_by == "pillow 1/1 ycbcr"


# A photo whose renditions take every route of the planar path: big ones from the luma decode
# (1024, 800), one cascaded from another (512 from 1024), small ones from the biggest one's
# half-size colour.
PLANAR_SPECS = [parse_spec(f"r{box}", f"max-{box}x{box}") for box in (1024, 800, 512, 150, 75)]


@pytest.mark.parametrize("engine", ["vips", "pillow"])
def test_the_planar_path_writes_the_same_files_on_one_thread_and_on_two(engine):
    # Each step is a task of its own on the render's threads; the order they finish in must
    # not change a byte of what is stored.
    data = encode(photo(2000, 1500), "JPEG", quality=90)
    seen: list[str] = []
    pooled = render(data, PLANAR_SPECS, formats=["JPEG"], engine=engine, threads=2)
    single = render(
        data,
        PLANAR_SPECS,
        formats=["JPEG"],
        engine=engine,
        threads=1,
        on_output=lambda output: seen.append(output.name),
    )
    assert [output.decoded_by for output in pooled] == ["pillow 1/1 ycbcr"] * 5
    assert [(output.width, output.height) for output in pooled] == [
        (1024, 768),
        (800, 600),
        (512, 384),
        (150, 112),
        (75, 56),
    ]
    assert [output.data for output in pooled] == [output.data for output in single]
    assert seen == ["r1024", "r800", "r512", "r150", "r75"]  # one thread: largest first


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failed_write_on_the_planar_path_stops_the_render_with_its_error(threads):
    def storage_down(output):
        raise OSError("storage is down")

    data = encode(photo(2000, 1500), "JPEG", quality=90)
    with pytest.raises(OSError, match="storage is down"):
        render(
            data,
            PLANAR_SPECS,
            formats=["JPEG"],
            engine="vips",
            threads=threads,
            on_output=storage_down,
        )


@pytest.mark.parametrize("threads", [1, 2])
def test_a_luma_decode_refused_after_the_colour_was_rendered_hands_each_file_over_once(
    threads, monkeypatch
):
    # The small renditions are encoded beside the luma decode, from the colour alone. Where
    # the luma decode then fails, the plain path renders the file again: nothing the planar
    # path made may have reached storage, or those files would be written twice.
    real_draft = pillow._draft

    def luma_refused(data, mode, size, factor):
        if mode == "L":
            raise OSError("broken data stream")
        return real_draft(data, mode, size, factor)

    monkeypatch.setattr(pillow, "_draft", luma_refused)
    seen: list[str] = []
    data = encode(photo(2000, 1500), "JPEG", quality=90)
    outputs = render(
        data,
        PLANAR_SPECS,
        formats=["JPEG"],
        engine="vips",
        threads=threads,
        on_output=lambda output: seen.append(output.name),
    )
    assert sorted(seen) == sorted(spec.name for spec in PLANAR_SPECS)
    assert {output.decoded_by for output in outputs} == {"turbojpeg 1/1"}  # the plain path


def test_resizes_at_the_same_time_each_get_a_pool_of_their_own():
    # One shared one-thread pool would run the render's resizes one after another.
    first, second = resample._take("lanczos3", 1), resample._take("lanczos3", 1)
    try:
        assert first.thread_pool is not second.thread_pool
    finally:
        resample._give_back(second, "lanczos3", 1)
        resample._give_back(first, "lanczos3", 1)
    # Handed back, used again: no pool made per resize.
    assert resample._take("lanczos3", 1) is first
    resample._give_back(first, "lanczos3", 1)


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("picture", [chart, photo], ids=["chart", "photo"])
def test_planar_jpegs_keep_what_a_one_step_resize_keeps(picture, progressive):
    # The colour decoded at a quarter (500x375 for the 1024's 512x384), the small renditions
    # from the big one's half-size colour (two resampling steps), the 512 from the 1024 luma:
    # each as close to a q85 JPEG of one LANCZOS step from the full decode as JPEG q85 itself
    # allows (measured 40.5-47 dB). A progressive file is decoded once and reduced instead.
    data = encode(picture(2000, 1500), "JPEG", quality=90, progressive=progressive)
    full = Image.open(io.BytesIO(data)).convert("RGB")
    for output in render(data, PLANAR_SPECS, formats=["JPEG"], engine="vips"):
        one_step = full.resize((output.width, output.height), LANCZOS)
        reference = Image.open(io.BytesIO(encode(one_step, "JPEG", quality=85)))
        assert psnr(Image.open(io.BytesIO(output.data)), reference) >= 39.5, output.name
        assert output.decoded_by == "pillow 1/1 ycbcr"


def test_renders_at_the_same_time_in_one_process_each_get_their_own_pixels():
    # A gthread worker renders several uploads at once: their resizes share the process's
    # one-thread pools, handed out to one resize at a time.
    from concurrent.futures import ThreadPoolExecutor

    data = [encode(photo(1600, 1200, seed), "JPEG", quality=90) for seed in (1, 2, 3)]
    alone = [
        [output.data for output in render(one, PLANAR_SPECS, formats=["JPEG"])] for one in data
    ]
    with ThreadPoolExecutor(3) as pool:
        together = list(
            pool.map(
                lambda one: [o.data for o in render(one, PLANAR_SPECS, formats=["JPEG"])], data
            )
        )
    assert together == alone


def _colour_factor(size, specs, orientation=None, **params) -> int:
    """The colour decode's scale the planar path picks for a 4:2:0 JPEG of ``size``."""
    engine = pillow.PillowEngine()
    image = Image.new("RGB", size, (90, 140, 200))
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    source = engine.open(encode(image, "JPEG", quality=90, **params), ["JPEG"])
    sizes = [spec.target_size(*source.size) for spec in specs]
    factor = pillow._planar_factor(source, sizes)
    groups = pillow.group_specs(specs, sizes, transparent=False)
    return pillow._Planar(engine, source, factor, 2)._colour_factor(groups)


DEFAULT_SPECS = [
    parse_spec(name, f"max-{box}x{box}")
    for name, box in {"thumb": 150, "retina": 300, "ipad": 1024, "big": 2048, "ebay": 1600}.items()
]


@pytest.mark.parametrize(
    ("size", "specs", "orientation", "expected"),
    [
        ((4000, 3000), DEFAULT_SPECS, None, 4),  # 1000x750 for the 2048's 1024x768: 97.7%
        ((4032, 3024), DEFAULT_SPECS, 6, 4),  # a phone's, rotated: the same once turned
        ((3600, 2700), DEFAULT_SPECS, None, 2),  # 900x675: 88%, under _COLOUR_SLACK
        ((6000, 4000), DEFAULT_SPECS, None, 4),  # luma at 1/2; colour at 1/8 would be 750 px
        (
            (4000, 3000),
            [*DEFAULT_SPECS[:3], parse_spec("big", "max-2048x2048|format-png")],
            None,
            2,
        ),
        (
            (4000, 3000),
            [*DEFAULT_SPECS[:3], parse_spec("big", "max-2048x2048|quality-95")],
            None,
            2,
        ),
    ],
    ids=["12mp", "phone-rotated", "under-slack", "24mp", "png-keeps-colour", "q95-keeps-colour"],
)
def test_the_colour_is_decoded_at_a_quarter_only_where_the_renditions_keep_no_more(
    size, specs, orientation, expected
):
    assert _colour_factor(size, specs, orientation) == expected


def test_an_embedded_profile_keeps_the_colour_at_half_scale():
    # Its conversion needs each rendition's colour at full size (_exact).
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert _colour_factor((4000, 3000), DEFAULT_SPECS, icc_profile=icc) == 2
