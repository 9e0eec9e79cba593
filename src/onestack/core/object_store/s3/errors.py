"""S3's error codes: each one an error of the one tree, with its S3 code and status."""

from __future__ import annotations

from typing import ClassVar

from onestack.errors import OnestackError


class S3Error(OnestackError):
    """An error S3 names itself (rendered as <Error><Code>...)."""

    status = 400
    code: ClassVar[str] = "InvalidRequest"
    default_message = "Invalid Request"


def _make(name: str, status: int, message: str, code: str = "") -> type[S3Error]:
    return type(name, (S3Error,), {"status": status, "code": code or name, "title": name,
                                   "default_message": message})


AccessDenied = _make("AccessDenied", 403, "Access Denied.")
InvalidAccessKeyId = _make("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided "
                           "does not exist in our records.")
SignatureDoesNotMatch = _make("SignatureDoesNotMatch", 403, "The request signature we "
                              "calculated does not match the signature you provided. Check "
                              "your key and signing method.")
RequestTimeTooSkewed = _make("RequestTimeTooSkewed", 403, "The difference between the request "
                             "time and the current time is too large.")
AuthorizationHeaderMalformed = _make("AuthorizationHeaderMalformed", 400, "The authorization "
                                     "header is malformed.")
AuthorizationQueryParametersError = _make("AuthorizationQueryParametersError", 400,
                                          "The authorization query parameters are invalid.")
ExpiredToken = _make("ExpiredToken", 400, "The provided token has expired.")
MissingSecurityHeader = _make("MissingSecurityHeader", 400, "Your request is missing a "
                              "required header.")
NoSuchBucket = _make("NoSuchBucket", 404, "The specified bucket does not exist.")
NoSuchKey = _make("NoSuchKey", 404, "The specified key does not exist.")
NoSuchUpload = _make("NoSuchUpload", 404, "The specified multipart upload does not exist. The "
                     "upload ID might be invalid, or the multipart upload might have been "
                     "aborted or completed.")
BucketNotEmpty = _make("BucketNotEmpty", 409, "The bucket you tried to delete is not empty.")
BucketAlreadyOwnedByYou = _make("BucketAlreadyOwnedByYou", 409, "Your previous request to "
                                "create the named bucket succeeded and you already own it.")
InvalidBucketName = _make("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidArgument = _make("InvalidArgument", 400, "Invalid Argument.")
InvalidRequest = _make("InvalidRequest", 400, "Invalid Request.")
InvalidDigest = _make("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
BadDigest = _make("BadDigest", 400, "The Content-MD5 you specified did not match what we "
                  "received.")
XAmzContentSHA256Mismatch = _make("XAmzContentSHA256Mismatch", 400, "The provided "
                                  "'x-amz-content-sha256' header does not match what was "
                                  "computed.")
IncompleteBody = _make("IncompleteBody", 400, "You did not provide the number of bytes "
                       "specified by the Content-Length HTTP header.")
MalformedXML = _make("MalformedXML", 400, "The XML you provided was not well-formed or did "
                     "not validate against our published schema.")
InvalidPart = _make("InvalidPart", 400, "One or more of the specified parts could not be "
                    "found. The part might not have been uploaded, or the specified entity "
                    "tag might not have matched the part's entity tag.")
InvalidPartOrder = _make("InvalidPartOrder", 400, "The list of parts was not in ascending "
                         "order. The parts list must be specified in order by part number.")
EntityTooSmall = _make("EntityTooSmall", 400, "Your proposed upload is smaller than the "
                       "minimum allowed object size.")
EntityTooLarge = _make("EntityTooLarge", 400, "Your proposed upload exceeds the maximum "
                       "allowed object size.")
InvalidRange = _make("InvalidRange", 416, "The requested range is not satisfiable.")
MissingContentLength = _make("MissingContentLength", 411, "You must provide the "
                             "Content-Length HTTP header.")
MethodNotAllowed = _make("MethodNotAllowed", 405, "The specified method is not allowed "
                         "against this resource.")
Unimplemented = _make("Unimplemented", 501, "A header or query you provided implies "
                      "functionality that is not implemented.", "NotImplemented")
PreconditionFailed = _make("PreconditionFailed", 412, "At least one of the preconditions you "
                           "specified did not hold.")
ServiceUnavailable = _make("ServiceUnavailable", 503, "Please reduce your request rate.")
