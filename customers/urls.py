from django.urls import path

from customers import apis

urlpatterns = [
    path("customers/<uuid:organisation_pk>/kyc", apis.KycApi.as_view(), name="kyc"),
    path("customers/<uuid:organisation_pk>/kyc/verify", apis.KycVerifyApi.as_view(), name="kyc-verify"),
    path("customers/<uuid:organisation_pk>/kyc/reject", apis.KycRejectApi.as_view(), name="kyc-reject"),
    path("kyc/pending", apis.KycPendingApi.as_view(), name="kyc-pending"),
    path("enrolments", apis.EnrolmentListApi.as_view(), name="enrolment-list"),
    path(
        "releases/<uuid:system_version_pk>/enrolments",
        apis.ReleaseEnrolmentListApi.as_view(),
        name="release-enrolment-list",
    ),
    path(
        "releases/<uuid:system_version_pk>/enrolments/places",
        apis.ReleaseEnrolmentPlacesApi.as_view(),
        name="release-enrolment-places",
    ),
    path(
        "releases/<uuid:system_version_pk>/enrolments/<uuid:pk>/withdraw",
        apis.ReleaseEnrolmentWithdrawApi.as_view(),
        name="release-enrolment-withdraw",
    ),
    path(
        "releases/<uuid:system_version_pk>/enrolment-consents",
        apis.ReleaseEnrolmentConsentListApi.as_view(),
        name="release-enrolment-consent-list",
    ),
    path(
        "releases/<uuid:system_version_pk>/enrolment-consents/withdraw",
        apis.ReleaseEnrolmentConsentWithdrawApi.as_view(),
        name="release-enrolment-consent-withdraw",
    ),
]
