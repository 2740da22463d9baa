/*
  DICOM-specific rules. DICM at offset 128 is uint32(128) == 0x4D434944.
  Preamble polyglots (CVE-2019-11687): an executable header at offset 0 of a DICOM Part 10 file.
  Real preambles hold zeros, a TIFF header or vendor text, which none of these match.
*/

rule DICOM_Preamble_PE : basic
{
  meta:
    description = "DICOM file whose preamble is a Windows executable header (CVE-2019-11687)"
    severity = "high"
    verdict = "infected"
  condition:
    uint16(0) == 0x5A4D and uint32(128) == 0x4D434944
}

rule DICOM_Preamble_ELF : basic
{
  meta:
    description = "DICOM file whose preamble is an ELF executable header"
    severity = "high"
    verdict = "infected"
  condition:
    uint32(0) == 0x464C457F and uint32(128) == 0x4D434944
}

rule DICOM_Preamble_MachO : basic
{
  meta:
    description = "DICOM file whose preamble is a Mach-O executable header"
    severity = "high"
    verdict = "infected"
  condition:
    (uint32(0) == 0xFEEDFACE or uint32(0) == 0xFEEDFACF or uint32(0) == 0xCEFAEDFE or uint32(0) == 0xCFFAEDFE or uint32be(0) == 0xCAFEBABE)
    and uint32(128) == 0x4D434944
}

rule DICOM_Preamble_Script : basic
{
  meta:
    description = "DICOM file whose preamble starts a script (#!)"
    severity = "high"
    verdict = "infected"
  condition:
    uint16(0) == 0x2123 and uint32(128) == 0x4D434944
}

rule DICOM_Script_In_Tags : basic
{
  meta:
    description = "DICOM element values carrying HTML script, PHP or a javascript: URL"
    severity = "high"
    verdict = "suspicious"
  strings:
    $script = "<script" nocase
    $php = "<?php" nocase
    $jsurl = "javascript:" nocase
  condition:
    uint32(128) == 0x4D434944 and any of them
}

rule DICOM_Embedded_ELF : advanced
{
  meta:
    description = "ELF executable embedded in a DICOM dataset"
    severity = "high"
    verdict = "infected"
  strings:
    $elf = { 7F 45 4C 46 (01 | 02) (01 | 02) 01 }
  condition:
    uint32(128) == 0x4D434944 and for any i in (1..#elf) : (@elf[i] > 132)
}
