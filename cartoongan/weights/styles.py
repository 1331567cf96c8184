"""The four original CartoonGAN styles whose tensors are published upstream: the registry that
`cartoongan.presets` (names a user may ask for) and `cartoongan.weights.convert` (what a
converted preset records) both read. Facts only: no imports, so reading it costs nothing."""

# style -> what its description says after "CartoonGAN (Chen et al. 2018), "
UPSTREAM_STYLES = {
    "hayao": "Hayao Miyazaki style",
    "hosoda": "Mamoru Hosoda style",
    "paprika": "Paprika (Satoshi Kon) style",
    "shinkai": "Makoto Shinkai style",
}
UPSTREAM_LICENSE = (
    "weights by the CartoonGAN authors (Chen et al., CVPR 2018), as redistributed by "
    "mnicnc404/CartoonGan-tensorflow (Apache-2.0 repository); research use"
)
# The upstream generators take and give BGR in [-1, 1] (the PyTorch original's convention).
UPSTREAM_CHANNEL_ORDER = "BGR"
