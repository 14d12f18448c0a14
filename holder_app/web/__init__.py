"""The holder's phone-sized web app (``akashi-wallet ui``): the same wallet as the CLI, in a
page a person can use with a thumb. Pages only show and ask; every decision is the wallet
engine's (:mod:`holder_app.wallet`, :mod:`holder_app.updates`, :mod:`holder_app.audit`)."""
