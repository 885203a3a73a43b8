"""PO-BC integration: Project Operations (Dataverse) to Business Central."""

import logging

# A library stays silent unless the application configures logging.
logging.getLogger("pointegration").addHandler(logging.NullHandler())
