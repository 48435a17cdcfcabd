"""The monthly airtime report as files to send upward: CSV for a spreadsheet, PDF to print and sign."""

import csv
from io import StringIO
from pathlib import Path

from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from pa_controller.errors import Unavailable
from pa_controller.services.airtime import Airtime, AirtimeReport
from pa_controller.services.audit_log import inert
from pa_controller.web.formatting import local_time

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian's fonts-dejavu-core: every Vietnamese letter


def columns() -> list[str]:
    return [_("Phường"), _("Buổi phát"), _("Phút phát"), _("Cụm·phút"), _("Số bản tin"), _("Đã phát xong"),
            _("Đã gửi"), _("Tỉ lệ phát xong")]


def lines(report: AirtimeReport) -> list[Airtime]:
    """The wards' lines, then the district's if the reader sees the district."""
    return [*report.wards, *([report.total] if report.total is not None else [])]


def line_name(line: Airtime) -> str:
    return line.name if line.ward_id is not None else _("Toàn quận")


def shown(line: Airtime) -> list[str]:
    """A line's figures as a person reads them, in their language's number format."""
    rate = "—" if line.rate is None else format_percent(line.rate, "#,##0.0%")
    return [line_name(line), str(line.sessions), format_decimal(line.minutes, "#,##0.0"),
            format_decimal(line.cluster_minutes, "#,##0.0"), str(line.items), str(line.done), str(line.sent), rate]


def csv_text(report: AirtimeReport) -> str:
    """The report as CSV (plain numbers, a dot for decimals), with a BOM so spreadsheets read it as UTF-8."""
    buffer = StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_("Tháng"), *columns()])
    for line in lines(report):
        rate = "" if line.rate is None else f"{line.rate:.4f}"
        writer.writerow([inert(value) for value in (
            str(report.month), line_name(line), line.sessions, f"{line.minutes:.1f}", f"{line.cluster_minutes:.1f}",
            line.items, line.done, line.sent, rate)])
    return "\ufeff" + buffer.getvalue()


def pdf_bytes(report: AirtimeReport) -> bytes:
    """The report on one A4 page (more if the wards need it): title, month, table, when it was made."""
    if not Path(FONT).is_file():
        raise Unavailable(_("Máy chủ thiếu phông chữ DejaVu Sans (gói fonts-dejavu-core) để viết tiếng Việt trong "
                            "tệp PDF; hãy báo quản trị viên cài gói này. Bản CSV vẫn tải được."))
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(_("Báo cáo thời lượng phát thanh tháng %(month)s", month=_month(report)))
    pdf.set_creator("LoaNet")
    pdf.add_font("DejaVu", fname=FONT)
    pdf.add_page()
    pdf.set_font("DejaVu", size=16)
    pdf.cell(text=_("Báo cáo thời lượng phát thanh"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=11)
    area = _("Toàn quận") if report.total is not None else ", ".join(line.name for line in report.wards)
    pdf.cell(text=_("Tháng %(month)s · %(area)s", month=_month(report), area=area), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", size=9)
    with pdf.table(headings_style=FontFace(emphasis="", fill_color=(230, 230, 230)),
                   col_widths=(44, 16, 18, 18, 14, 18, 16, 20), text_align="RIGHT") as table:
        for values in (columns(), *(shown(line) for line in lines(report))):
            row = table.row()
            for index, value in enumerate(values):
                row.cell(value, align="LEFT" if index == 0 else "RIGHT")
    pdf.ln(4)
    pdf.multi_cell(0, text=definitions(), align="LEFT")
    pdf.ln(2)
    pdf.cell(text=_("Lập lúc %(at)s (giờ Việt Nam)", at=local_time(report.generated_at, "%H:%M %d/%m/%Y")))
    return bytes(pdf.output())


def _month(report: AirtimeReport) -> str:
    return f"{report.month.month:02d}/{report.month.year}"


def definitions() -> str:
    return _("Buổi phát: lượt phát trong tháng mà ít nhất một cụm của phường phát xong. Phút phát: tổng thời lượng "
             "chương trình của các buổi đó. Cụm·phút: thời lượng nhân số cụm đã phát xong. Số bản tin: số bản tin khác "
             "nhau. Tỉ lệ phát xong: số cụm đã phát xong trên số lệnh đã gửi (lệnh bị người dùng hủy không tính). "
             "Dòng toàn quận tính mỗi lượt phát một lần dù nó phát ở nhiều phường.")
