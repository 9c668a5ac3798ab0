"""``/dashboard``: national oversight for signed-in officers, rendered on the server (HTML and SVG, no script, no
CDN, no build step). :mod:`gateway.dashboard.views` serves it, :mod:`gateway.dashboard.render` draws it."""
