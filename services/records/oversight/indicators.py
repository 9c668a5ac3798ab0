"""The indicators national oversight follows: what each measures, its unit, and whether the platform computes it
from its own data or an officer enters it. Targets (``oversight_targets``, loaded from ``data/targets.csv`` in
development) name these codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["share", "count"]


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    unit: Unit
    #: computed from the platform's data; otherwise entered by officers
    computed: bool
    #: how it is computed, or what the officer enters
    basis: str


INDICATORS: dict[str, Indicator] = {i.code: i for i in [
    Indicator("connected_share", "Tỷ lệ trường cao đẳng, trung cấp kết nối nền tảng", "share", True,
              "active colleges and intermediate schools connected (an active machine client that may sync, and a "
              "finished sync within the window) over all of them; kept per year at each pull"),
    Indicator("digitised_diplomas_share", "Tỷ lệ bằng tốt nghiệp được số hoá", "share", True,
              "diplomas of the year issued on the platform and not revoked (credentials' events) over the graduates "
              "of the year recorded here (college and intermediate levels), at most 1"),
    Indicator("teachers_digital_trained_share", "Tỷ lệ nhà giáo được bồi dưỡng năng lực số", "share", True,
              "teachers who completed a digital-competence course (learning) over the teachers the schools reported "
              "(identity's staff counts, latest year), at most 1"),
    Indicator("soft_skills_coverage", "Tỷ lệ cơ sở đào tạo kỹ năng mềm", "share", True,
              "active institutions with at least one student who completed a soft-skills course (learning) over all "
              "active institutions of the types with a target (college, intermediate, VET centre)"),
    Indicator("outcomes_digital_share", "Tỷ lệ chuẩn đầu ra tích hợp năng lực số", "share", True,
              "programmes of active institutions whose learning outcomes (records) integrate digital competence — at "
              "least one outcome flagged — over all their programmes; kept per year at each pull"),
    Indicator("reports_digital_share", "Tỷ lệ báo cáo định kỳ thực hiện số", "share", False,
              "periodic and statistical reports made digitally and shared with the Government reporting system"),
    Indicator("trainees_total", "Tuyển sinh, đào tạo (lượt người)", "count", True,
              "new enrolments of the year recorded here, every level"),
    Indicator("trainees_college", "Tuyển sinh trình độ cao đẳng", "count", True, "new enrolments of the year, college level"),
    Indicator("trainees_intermediate", "Tuyển sinh trình độ trung cấp", "count", True,
              "new enrolments of the year, intermediate level"),
    Indicator("trainees_college_intermediate", "Tuyển sinh trung cấp và cao đẳng", "count", True,
              "new enrolments of the year, college and intermediate levels"),
    Indicator("trainees_elementary_short", "Tuyển sinh sơ cấp và đào tạo dưới 3 tháng", "count", True,
              "new enrolments of the year, elementary level and short courses"),
    Indicator("female_share_new_enrolments", "Tỷ lệ nữ trong tuyển sinh mới", "share", True,
              "female learners among the year's new enrolments recorded here"),
    Indicator("trained_labour_share", "Tỷ lệ lao động qua đào tạo", "share", False, "entered from the labour survey"),
    Indicator("certified_labour_share", "Tỷ lệ lao động qua đào tạo có bằng cấp, chứng chỉ", "share", False,
              "entered from the labour survey (diplomas or certificates of 3 months or more)"),
    Indicator("trained_labour_share_mountain", "Tỷ lệ lao động qua đào tạo ở các huyện miền núi", "share", False,
              "entered from the labour survey"),
    Indicator("secondary_graduates_into_vet_share", "Tỷ lệ học sinh tốt nghiệp THCS, THPT vào GDNN", "share", False,
              "entered from the education department's figures"),
    Indicator("lower_secondary_to_intermediate_share", "Tỷ lệ học sinh tốt nghiệp THCS học trung cấp", "share", False,
              "entered from the education department's figures"),
    Indicator("upper_secondary_to_college_share", "Tỷ lệ học sinh tốt nghiệp THPT học cao đẳng", "share", False,
              "entered from the education department's figures"),
    Indicator("disabled_workers_trained_share", "Tỷ lệ người khuyết tật được học nghề phù hợp", "share", False,
              "entered: disabled people able to work who received suitable training"),
    Indicator("it_skills_share", "Tỷ lệ lao động có kỹ năng công nghệ thông tin", "share", False,
              "entered from the labour survey"),
    Indicator("retraining_share", "Tỷ lệ lực lượng lao động được đào tạo lại, thường xuyên", "share", False,
              "entered from the labour survey"),
]}

#: the indicators whose value is the current state (not a count over a year): computed now, kept per year
STATE_INDICATORS = ("connected_share", "teachers_digital_trained_share", "soft_skills_coverage", "outcomes_digital_share")
#: the types of institution Decision 2222's connection target counts
CONNECTION_TYPES = ("college", "intermediate")
