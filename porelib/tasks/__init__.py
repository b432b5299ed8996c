"""Training tasks of :mod:`porelib.training` that live in their own module.

Each module defines one :class:`porelib.training.Task` subclass, registered with its model
in :mod:`porelib.registry` as ``task="porelib.tasks.<module>:<Class>"``, so it is imported
only when that model is trained:

``cvae``
    :class:`porelib.tasks.cvae.CVAETask`: the conditional VAE of :mod:`porelib.models.cvae`
    on the pore-grid dataset.
``cgan``
    :class:`porelib.tasks.cgan.CGANTask`: the conditional GAN of :mod:`porelib.models.cgan`
    on the pore-grid dataset, with the loss options of :func:`porelib.losses.gan_losses`.
``material``
    :class:`porelib.tasks.material.MaterialTask`: the fully convolutional generator of
    :mod:`porelib.models.material` on a user's own sample (``--input``).
``unet``
    :class:`porelib.tasks.unet.UNetTask`: the 3D U-Net of
    :mod:`porelib.models.unet3d` on simulated CT scans (:mod:`porelib.ct`).
``img2vox``
    :class:`porelib.tasks.img2vox.Img2VoxTask`: the section-to-volume VAE of
    :mod:`porelib.models.img2vox` on (central section, grid) pairs of the dataset.
"""
