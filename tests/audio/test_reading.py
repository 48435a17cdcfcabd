"""Announcements are read the way a Vietnamese announcer reads them: numbers, times, dates, units and phone
numbers in words."""

import pytest

from audio.reading import number_words, read_aloud

NUMBERS = [
    (0, "không"),
    (1, "một"),
    (10, "mười"),
    (15, "mười lăm"),
    (21, "hai mươi mốt"),
    (24, "hai mươi tư"),
    (14, "mười bốn"),
    (105, "một trăm lẻ năm"),
    (110, "một trăm mười"),
    (1000, "một nghìn"),
    (1005, "một nghìn không trăm lẻ năm"),
    (1050, "một nghìn không trăm năm mươi"),
    (2026, "hai nghìn không trăm hai mươi sáu"),
    (3574, "ba nghìn năm trăm bảy mươi tư"),
    (1_500_000, "một triệu năm trăm nghìn"),
    (2_000_500, "hai triệu năm trăm"),
    (1_000_000_005, "một tỷ không trăm lẻ năm"),
]


@pytest.mark.parametrize(("n", "said"), NUMBERS)
def test_a_number_is_read_as_vietnamese_announcers_read_it(n, said):
    assert number_words(n) == said


# Phrases in the style of the ward's notices (/work/shared/seed-article-vi.txt) and how each must be read.
ANNOUNCEMENTS = [
    ("Lúc 17h30 ngày 02/12, UBND phường Thới Hòa tổ chức họp dân.",
     "Lúc mười bảy giờ ba mươi phút ngày hai tháng mười hai, ủy ban nhân dân phường Thới Hòa tổ chức họp dân."),
    ("Cuộc họp bắt đầu lúc 17:30.", "Cuộc họp bắt đầu lúc mười bảy giờ ba mươi phút."),
    ("Tập trung từ 5h sáng.", "Tập trung từ năm giờ sáng."),
    ("Làm việc từ 7h30 - 11h30 các ngày trong tuần.",
     "Làm việc từ bảy giờ ba mươi phút đến mười một giờ ba mươi phút các ngày trong tuần."),
    ("Hạn chót là 16h00 ngày 05/12/2026.",
     "Hạn chót là mười sáu giờ ngày năm tháng mười hai năm hai nghìn không trăm hai mươi sáu."),
    ("Tiêm chủng vào ngày 2-12 tại trạm y tế.", "Tiêm chủng vào ngày hai tháng mười hai tại trạm y tế."),
    ("Đợt ra quân từ 02/12 - 06/12.", "Đợt ra quân từ ngày hai tháng mười hai đến ngày sáu tháng mười hai."),
    ("Ngày 02/12/2026 là hạn nộp hồ sơ.",
     "ngày hai tháng mười hai năm hai nghìn không trăm hai mươi sáu là hạn nộp hồ sơ."),
    ("Tổng kết công tác tháng 12/2026.", "Tổng kết công tác tháng mười hai năm hai nghìn không trăm hai mươi sáu."),
    ("Lịch tiêm tháng 4 đã có.", "Lịch tiêm tháng tư đã có."),
    ("Thu gom rác vào thứ 2 và thứ 4 hằng tuần.", "Thu gom rác vào thứ hai và thứ tư hằng tuần."),
    ("Chợ phiên họp vào Thứ 7.", "Chợ phiên họp vào Thứ bảy."),
    ("Quận lắp đặt 456 cụm loa, 928 cái loa.",
     "Quận lắp đặt bốn trăm năm mươi sáu cụm loa, chín trăm hai mươi tám cái loa."),
    ("Hỗ trợ 1.500.000 đồng cho mỗi hộ.", "Hỗ trợ một triệu năm trăm nghìn đồng cho mỗi hộ."),
    ("Mức phạt 1.500.000đ.", "Mức phạt một triệu năm trăm nghìn đồng."),
    ("Lệ phí 50.000 VNĐ một hồ sơ.", "Lệ phí năm mươi nghìn đồng một hồ sơ."),
    ("Tỷ lệ đạt 69,39%.", "Tỷ lệ đạt sáu mươi chín phẩy ba mươi chín phần trăm."),
    ("Trên 50% người dân đã thanh toán trực tuyến.", "Trên năm mươi phần trăm người dân đã thanh toán trực tuyến."),
    ("Nâng cấp 3 km đường Trần Kiết Tường.", "Nâng cấp ba ki lô mét đường Trần Kiết Tường."),
    ("Nạo vét 250 m kênh Ô Môn.", "Nạo vét hai trăm năm mươi mét kênh Ô Môn."),
    ("Gieo sạ 120 ha lúa Đông Xuân.", "Gieo sạ một trăm hai mươi héc ta lúa Đông Xuân."),
    ("Mỗi hộ nhận 10kg gạo.", "Mỗi hộ nhận mười ki lô gam gạo."),
    ("Nhiệt độ cao nhất 35°C.", "Nhiệt độ cao nhất ba mươi lăm độ C."),
    ("Lượng mưa 50mm trong đêm.", "Lượng mưa năm mươi mi li mét trong đêm."),
    ("Mọi thắc mắc xin gọi số điện thoại 0292 3861 234.",
     "Mọi thắc mắc xin gọi số điện thoại không hai chín hai, ba tám sáu một, hai ba bốn."),
    ("Đường dây nóng: 0939.123.456.", "Đường dây nóng: không chín ba chín, một hai ba, bốn năm sáu."),
    ("Khi có cháy hãy gọi 114.", "Khi có cháy hãy gọi một một bốn."),
    ("Liên hệ anh Nam 0909123456.", "Liên hệ anh Nam không chín không chín, một hai ba, bốn năm sáu."),
    ("Mỗi hộ cử 2-3 người tham gia.", "Mỗi hộ cử hai đến ba người tham gia."),
    ("Thành lập 79 tổ công nghệ số với 483 thành viên.",
     "Thành lập bảy mươi chín tổ công nghệ số với bốn trăm tám mươi ba thành viên."),
    ("Tạo tài khoản cho 3.574 đối tượng bảo trợ xã hội.",
     "Tạo tài khoản cho ba nghìn năm trăm bảy mươi tư đối tượng bảo trợ xã hội."),
    ("Đẩy mạnh CÐS trong giải quyết TTHC.", "Đẩy mạnh chuyển đổi số trong giải quyết thủ tục hành chính."),
    ("MTTQ và HĐND phường phối hợp thực hiện.", "mặt trận tổ quốc và hội đồng nhân dân phường phối hợp thực hiện."),
    ("Người dân đến TP. Cần Thơ làm BHYT.", "Người dân đến thành phố Cần Thơ làm bảo hiểm y tế."),
    ("Năm 2024 phường hỗ trợ 105 hộ.", "Năm hai nghìn không trăm hai mươi tư phường hỗ trợ một trăm lẻ năm hộ."),
    ("Tốc độ tối đa 40 km/h.", "Tốc độ tối đa bốn mươi ki lô mét trên giờ."),
]


@pytest.mark.parametrize(("printed", "said"), ANNOUNCEMENTS, ids=[p for p, _ in ANNOUNCEMENTS])
def test_an_announcement_is_written_out_as_it_is_read(printed, said):
    assert read_aloud(printed) == said


@pytest.mark.parametrize("printed", ["Phường có 5 hay 6 ấp?", "Giờ 25h là giờ không có.", "Ngày 32/13 không có."])
def test_what_is_not_a_time_a_date_or_a_unit_is_read_as_plain_numbers(printed):
    said = read_aloud(printed)
    assert not any(ch.isdigit() for ch in said)
    assert "giờ hai mươi lăm giờ" not in said and "tháng mười ba" not in said and "héc ta" not in said


def test_text_without_numbers_is_left_as_written():
    text = "Người dân phường Thới Hòa quét mã QR để thực hiện các thủ tục hành chính."
    assert read_aloud(text) == text
