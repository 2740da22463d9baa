/*
  Rules for medical file formats (PDF, HL7 v2, FHIR, images).
  Tags: `basic` (premium and above), `advanced` (gold and above).
  Meta read by the service: severity (info|low|medium|high|critical), verdict (infected|suspicious|info), description.
*/

rule Executable_In_Medical_File : basic
{
  meta:
    description = "A Windows executable (MZ header whose e_lfanew points at PE) inside a DICOM, PDF, HL7 or FHIR file"
    severity = "high"
    verdict = "infected"
  strings:
    $mz = "MZ"
  condition:
    (uint32(128) == 0x4D434944 or uint32(0) == 0x46445025 or uint32(0) == 0x7C48534D or uint8(0) == 0x7B or uint8(0) == 0x3C)
    and for any i in (1..#mz) : (@mz[i] > 0 and uint32(@mz[i] + uint32(@mz[i] + 0x3C)) == 0x00004550)
}

rule PDF_OpenAction_JavaScript : basic
{
  meta:
    description = "PDF that runs JavaScript on open (OpenAction or AA together with a JavaScript action)"
    severity = "high"
    verdict = "suspicious"
  strings:
    $pdf = "%PDF-"
    $open = "/OpenAction"
    $aa = "/AA"
    $js1 = "/JavaScript"
    $js2 = "/JS"
  condition:
    $pdf in (0..1024) and ($open or $aa) and ($js1 or $js2)
}

rule PDF_Launch_Action : basic
{
  meta:
    description = "PDF with a Launch action that can start programs or open URLs"
    severity = "high"
    verdict = "suspicious"
  strings:
    $pdf = "%PDF-"
    $launch = "/Launch"
  condition:
    $pdf in (0..1024) and $launch
}

rule PDF_Embedded_File : advanced
{
  meta:
    description = "PDF carrying an embedded file"
    severity = "medium"
    verdict = "suspicious"
  strings:
    $pdf = "%PDF-"
    $ef = "/EmbeddedFile"
  condition:
    $pdf in (0..1024) and $ef
}

rule HL7_Script_Injection : basic
{
  meta:
    description = "HL7 v2 message carrying HTML script or a javascript: URL"
    severity = "high"
    verdict = "suspicious"
  strings:
    $script = "<script" nocase
    $jsurl = "javascript:" nocase
    $onerror = /on(error|load)\s*=/ nocase
    $iframe = "<iframe" nocase
  condition:
    (uint32(0) == 0x7C48534D or uint32(0) == 0x7C534846 or uint32(0) == 0x7C534842) and any of them
}

rule FHIR_Script_Injection : basic
{
  meta:
    description = "FHIR resource carrying HTML script or a javascript: URL"
    severity = "high"
    verdict = "suspicious"
  strings:
    $rt_json = "\"resourceType\""
    $ns_xml = "http://hl7.org/fhir"
    $script = "<script" nocase
    $escaped = "\\u003cscript" nocase
    $jsurl = "javascript:" nocase
    $onerror = /on(error|load)\s*=/ nocase
  condition:
    ($rt_json or $ns_xml) and ($script or $escaped or $jsurl or $onerror)
}

rule XML_External_Entity : basic
{
  meta:
    description = "XML declaring external entities (XXE) or many entities (billion laughs)"
    severity = "high"
    verdict = "suspicious"
  strings:
    $entity = "<!ENTITY" nocase
    $system = /<!ENTITY\s+%?\s*[A-Za-z0-9_.-]+\s+(SYSTEM|PUBLIC)/ nocase
  condition:
    uint8(0) == 0x3C and ($system or #entity > 5)
}

rule Obfuscated_Script : advanced
{
  meta:
    description = "Script obfuscation idioms (eval of decoded strings, encoded PowerShell)"
    severity = "medium"
    verdict = "suspicious"
  strings:
    $eval = /eval\s*\(\s*(atob|unescape|String\.fromCharCode|decodeURIComponent)\s*\(/ nocase
    $charcodes = /String\.fromCharCode\(\s*\d+\s*(,\s*\d+\s*){20,}\)/
    $ps_enc = /powershell(\.exe)?\s+[^\n]{0,40}-e(nc|ncodedcommand)?\s+[A-Za-z0-9+\/=]{20,}/ nocase
    $frombase64 = "FromBase64String" nocase
  condition:
    any of them
}

rule Network_Reference_In_DICOM : advanced
{
  meta:
    // Plain web URLs are normal in DICOM (a writer's home page in Software Versions, DICOMweb's
    // Retrieve URL); only references that make a viewer reach a file share or fetch a program are flagged.
    description = "DICOM file referencing a file share (smb://, file://) or a program or script to download"
    severity = "low"
    verdict = "suspicious"
  strings:
    // UNC paths are left out: "\\" followed by letters is common in 8-bit pixel data.
    $share = /(smb|file):\/\/[A-Za-z0-9._-]{3,}/ nocase
    $program = /(https?|ftp):\/\/[A-Za-z0-9._-]{3,}(:[0-9]{1,5})?\/[A-Za-z0-9._~%\/-]{0,200}\.(exe|dll|scr|msi|bat|cmd|ps1|vbs|hta|jar|sh|elf|bin)([?#"\x00\x20]|$)/ nocase
  condition:
    uint32(128) == 0x4D434944 and ($share or $program)
}

rule Data_After_PNG_End : advanced
{
  meta:
    description = "Data hidden after a PNG image's IEND chunk"
    severity = "medium"
    verdict = "suspicious"
  strings:
    $iend = { 49 45 4E 44 AE 42 60 82 }
  condition:
    uint32be(0) == 0x89504E47 and #iend > 0 and filesize - (@iend[#iend] + 8) > 16
}

rule Data_After_JPEG_End : advanced
{
  meta:
    description = "Data hidden after a JPEG image's end-of-image marker"
    severity = "medium"
    verdict = "suspicious"
  strings:
    $eoi = { FF D9 }
  condition:
    uint16be(0) == 0xFFD8 and #eoi > 0 and filesize - (@eoi[#eoi] + 2) > 64
}
