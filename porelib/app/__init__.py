"""What the Streamlit pages show, computed without streamlit: session state and figures.

* :mod:`porelib.app.state`: the session-state keys and their defaults, the page list, the
  status and benchmark verdicts of the models (what Home and the pages say about them).
* :mod:`porelib.app.figures`: charts, cards, slices, 3D scenes and downloads of grids.
* :mod:`porelib.app.figures_ct`: overlays and charts of the Segment page.
* :mod:`porelib.app.figures_compress`: panels, cards and the rate-distortion chart of the
  Compress page.

The library below (io, metrics, models, training, ...) never imports this package; the pages
(``pages/``) import it and :mod:`porelib`, and draw with streamlit.
"""
