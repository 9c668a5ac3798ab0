from services.common.migrations import run_env
from services.common.models import KitBase
from services.records.models import Base

run_env([Base.metadata, KitBase.metadata])
